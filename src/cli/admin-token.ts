import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../config/atomic-write.js';

/** The admin token (256 bits), created 0600 on first use; it guards `/_qcc/*` and the dashboard. */
export function ensureAdminToken(file: string): string {
  const existing = readAdminToken(file);
  if (existing) return existing;
  const token = randomBytes(32).toString('base64url');
  writeFileAtomic(file, `${token}\n`, 0o600);
  return token;
}

export function readAdminToken(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  const token = readFileSync(file, 'utf8').trim();
  return token.length > 0 ? token : undefined;
}
