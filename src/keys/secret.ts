import { createHmac, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Client key secrets. A key is `qcc-` and 32 random bytes in base64url (256 bits), shown once. What is stored is
 * HMAC-SHA256(pepper, key): the key is high-entropy, so a slow password hash would buy nothing, and the pepper (a
 * second secret kept apart from the config, in its own 0600 file or `QCC_KEY_PEPPER`) means a copy of the config
 * alone cannot even confirm a guess.
 */

export const KEY_PREFIX = 'qcc-';
const SECRET_BYTES = 32;
/** Characters of a key kept to recognise it by in listings: `qcc-` and 6 more (36 of its 256 bits). */
const SHOWN_CHARS = KEY_PREFIX.length + 6;
const HASH_SCHEME = 'hmac-sha256:';

export function newKeySecret(): string {
  return KEY_PREFIX + randomBytes(SECRET_BYTES).toString('base64url');
}

/** Whether a presented credential could be a client key at all (cheap: no hashing for anything else). */
export function looksLikeClientKey(presented: string): boolean {
  return presented.length === KEY_PREFIX.length + 43 && presented.startsWith(KEY_PREFIX);
}

export function keyHash(secret: string, pepper: Buffer): string {
  return HASH_SCHEME + createHmac('sha256', pepper).update(secret).digest('hex');
}

export function shownPrefix(secret: string): string {
  return secret.slice(0, SHOWN_CHARS);
}

/**
 * The pepper: `QCC_KEY_PEPPER` when set (replicas share one that way), else the file, created (0600, 32 random
 * bytes, hex) the first time a key is made. Losing it invalidates every key: back it up with the config.
 */
export function loadPepper(file: string, env: NodeJS.ProcessEnv = process.env, opts: { create: boolean } = { create: false }): Buffer | undefined {
  const fromEnv = env.QCC_KEY_PEPPER;
  if (fromEnv !== undefined && fromEnv.length > 0) {
    if (fromEnv.length < 32) throw new Error('QCC_KEY_PEPPER must be at least 32 characters (e.g. `openssl rand -hex 32`)');
    return Buffer.from(fromEnv, 'utf8');
  }
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`${file} is not a key pepper (64 hex digits); restore it from a backup, or remove it and rotate every key`);
    return Buffer.from(text, 'utf8');
  }
  if (!opts.create) return undefined;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const text = randomBytes(32).toString('hex');
  // 'wx': never overwrite a pepper another process has just created (that would invalidate its keys).
  try {
    const fd = openSync(file, 'wx', 0o600);
    writeSync(fd, `${text}\n`);
    closeSync(fd);
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return loadPepper(file, env, { create: false });
  }
  return Buffer.from(text, 'utf8');
}
