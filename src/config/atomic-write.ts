import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Write a file so that readers see either the old or the new content, never half of one: write a temp file
 * beside it (mode 0600 from creation, so a key is never world-readable even for an instant), fsync, rename.
 */
export function writeFileAtomic(path: string, content: string | Buffer, mode = 0o600, beforeRename?: () => void): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
    fsyncSync(fd);
  } catch (e: unknown) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    beforeRename?.(); // a seam for tests that simulate a crash between the write and the rename
    renameSync(tmp, path);
  } catch (e: unknown) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
