import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { pino } from 'pino';

/**
 * The background proxy's log file, kept to a size: past LOG_MAX_BYTES, `proxy.log` becomes `proxy.log.1` (the older
 * ones move up, the oldest beyond LOG_KEEP is deleted) and a new file is started. At most
 * (LOG_KEEP + 1) × LOG_MAX_BYTES on disk, however long the proxy runs. Rotated by the proxy itself, the only
 * writer, so no line is lost or split; `qcc proxy start` also rotates a full file before starting a new proxy.
 */

export const LOG_MAX_BYTES = 10 * 1024 * 1024;
export const LOG_KEEP = 3;

/** Shift `file` → `file.1` → … → `file.<keep>`, dropping what falls off the end. */
export function rotateLogFiles(file: string, keep = LOG_KEEP): void {
  rmSync(`${file}.${keep}`, { force: true });
  for (let i = keep - 1; i >= 1; i--) if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
  if (existsSync(file)) renameSync(file, `${file}.1`);
}

/** Rotate before appending when the file is already full (a proxy that is about to start). */
export function rotateIfFull(file: string, maxBytes = LOG_MAX_BYTES, keep = LOG_KEEP): void {
  if (existsSync(file) && statSync(file).size >= maxBytes) rotateLogFiles(file, keep);
}

/** A pino destination that appends to `file` and rotates it when it has grown past `maxBytes`. */
export class RotatingLogFile {
  private readonly out: ReturnType<typeof pino.destination>;
  private size: number;

  constructor(
    private readonly file: string,
    private readonly maxBytes = LOG_MAX_BYTES,
    private readonly keep = LOG_KEEP,
  ) {
    this.size = existsSync(file) ? statSync(file).size : 0;
    this.out = pino.destination({ dest: file, append: true, mkdir: true, sync: false, mode: 0o600 });
  }

  /** pino's destination interface: one log line (it ends with a newline). */
  write(line: string): boolean {
    const ok = this.out.write(line);
    // Lines are ASCII but for user text in them; length is exact enough for a cap of megabytes.
    this.size += line.length;
    if (this.size >= this.maxBytes) this.rotate();
    return ok;
  }

  flushSync(): void {
    this.out.flushSync();
  }

  /** pino's `logger.flush()`. */
  flush(cb?: (err?: Error) => void): void {
    this.out.flush(cb);
  }

  private rotate(): void {
    // The open descriptor follows the file through the rename; reopen() flushes to it and opens a new one.
    rotateLogFiles(this.file, this.keep);
    this.out.reopen();
    this.size = 0;
  }
}
