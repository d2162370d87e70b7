/**
 * Socket errors in words: what `connect ECONNREFUSED 127.0.0.1:9` means to a person. Shared by the upstream client's
 * messages and the dashboard, which shows a failed attempt as "connection refused", not as a status of 0.
 */
export const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'name lookup failed (temporary)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
  EPIPE: 'connection closed',
};

/** The words for the first errno code named in `message` (`connect ECONNREFUSED …` → `connection refused`), if any. */
export function errnoInWords(message: string | undefined): string | undefined {
  if (message === undefined) return undefined;
  for (const m of message.matchAll(/\b(E[A-Z_]{3,})\b/g)) {
    const text = ERRNO_TEXT[m[1]!];
    if (text !== undefined) return text;
  }
  return undefined;
}
