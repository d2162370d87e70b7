import type { QccPaths } from '../config/paths.js';
import { readAdminToken } from './admin-token.js';
import { inspectRecord } from './runtime-record.js';

/**
 * A request to the running proxy's admin API, when one is running and this user holds its token; undefined
 * otherwise (or when it does not answer within a few seconds): callers fall back to the files.
 */
export async function askRunningProxy<T>(paths: QccPaths, method: 'GET' | 'POST', path: string): Promise<{ status: number; body: T } | undefined> {
  const state = inspectRecord(paths.runtime);
  if (state.kind !== 'running') return undefined;
  const token = readAdminToken(paths.adminToken);
  if (!token) return undefined;
  try {
    // Loaded on use: the proxy process imports the CLI modules too and never needs undici's ~5 MB of heap.
    const { request } = await import('undici');
    const res = await request(`${state.record.url}${path}`, { method, headers: { 'x-qcc-admin-token': token }, headersTimeout: 3000, bodyTimeout: 3000 });
    return { status: res.statusCode, body: (await res.body.json()) as T };
  } catch {
    return undefined;
  }
}
