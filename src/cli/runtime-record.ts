import { existsSync, readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../config/atomic-write.js';

/** What a running proxy records under $QCC_HOME so `status`/`stop` can find it, however it was started. */
export interface RuntimeRecord {
  pid: number;
  url: string;
  host: string;
  port: number;
  started_at: string;
  config: string;
  log: string | null;
  /** Started with --demo and serving simulated endpoints (a restart keeps --demo). */
  demo?: boolean;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e: unknown) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process nobody has reaped yet (a zombie) still answers signal 0, but it is dead.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): signal 0 is the best answer there is
  }
}

export function readRecord(file: string): RuntimeRecord | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as Partial<RuntimeRecord>;
    if (typeof r.pid !== 'number' || typeof r.url !== 'string') return undefined;
    return r as RuntimeRecord;
  } catch {
    return undefined;
  }
}

export type RecordState = { kind: 'none' } | { kind: 'stale'; record: RuntimeRecord } | { kind: 'running'; record: RuntimeRecord };

/** A record whose process is gone was left by a crash: report it as stale, never as running. */
export function inspectRecord(file: string): RecordState {
  const record = readRecord(file);
  if (!record) return { kind: 'none' };
  return isAlive(record.pid) ? { kind: 'running', record } : { kind: 'stale', record };
}

export function writeRecord(file: string, record: RuntimeRecord): void {
  writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`, 0o600);
}

/** Remove the record only if it is still ours (a newer proxy may have replaced it). */
export function removeRecord(file: string, pid: number): void {
  const r = readRecord(file);
  if (!r || r.pid === pid) rmSync(file, { force: true });
}
