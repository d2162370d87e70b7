import { isLoopbackHost } from '../shared/loopback.js';

/**
 * A base URL qcc will send keys to: absolute http(s), and `https` for anything that leaves the machine, so keys
 * never cross a network in clear text. Returns the problem, or undefined when the URL is fine.
 */
export function baseUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `"${url}" is not a URL; write it in full, e.g. https://api.anthropic.com`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `the base URL must be http(s), not ${u.protocol}`;
  if (u.protocol === 'http:' && !isLoopbackHost(u.hostname)) {
    return `the base URL must use https for a non-local host (${u.hostname}); plain http is allowed only for 127.0.0.1/localhost`;
  }
  return undefined;
}
