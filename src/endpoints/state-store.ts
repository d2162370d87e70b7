import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../config/atomic-write.js';
import type { QueuedEndpoint } from './failure-queue.js';

/** Runtime state that must survive a restart: the failure queue. Never part of the config file. */
export interface PersistedState {
  version: 1;
  queued: QueuedEndpoint[];
}

export function readState(file: string): PersistedState {
  if (!existsSync(file)) return { version: 1, queued: [] };
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<PersistedState>;
    const queued = Array.isArray(parsed.queued)
      ? parsed.queued.filter((q): q is QueuedEndpoint => typeof q?.id === 'string' && typeof q.since === 'number' && typeof q.checks === 'number')
      : [];
    return { version: 1, queued };
  } catch {
    // A damaged state file loses nothing the user wrote: the worst case is an endpoint checked once more.
    return { version: 1, queued: [] };
  }
}

export function writeState(file: string, state: PersistedState): void {
  writeFileAtomic(file, `${JSON.stringify(state)}\n`, 0o600);
}
