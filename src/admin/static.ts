import { existsSync, readFileSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The dashboard's static files, bundled into the package at `dist/web` (no CDN: the page works offline).
 * Only files inside that folder are ever served: a path that normalises outside it is refused.
 */

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.map': 'application/json',
};

export const WEB_ROOT = resolve(fileURLToPath(new URL('../web', import.meta.url)));

/** The file a dashboard URL path maps to, or undefined when it is outside the web root or absent. */
export function resolveAsset(urlPath: string, root = WEB_ROOT): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const relative = decoded.replace(/^\/dashboard\/?/, '') || 'index.html';
  const file = resolve(root, normalize(relative));
  if (file !== root && !file.startsWith(root + sep)) return undefined;
  if (!existsSync(file) || !statSync(file).isFile()) return undefined;
  return file;
}

export function serveAsset(res: ServerResponse, file: string): void {
  const body = readFileSync(file);
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': body.length,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    // The page loads only its own files and talks only to its own origin.
    'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
  });
  res.end(body);
}

export function webRootExists(root = WEB_ROOT): boolean {
  return existsSync(join(root, 'index.html'));
}
