import { maskInText } from './proxy-url.js';

/** A URL as it may be shown or logged (a Redis or PostgreSQL URL): its password replaced. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return maskInText(url);
  }
}
