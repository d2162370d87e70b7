import { isLoopbackHost } from '../shared/loopback.js';

/**
 * A base URL qcc will send keys to: absolute http(s), and `https` for anything that leaves the machine, so keys
 * never cross a network in clear text, unless the endpoint opts in (a LAN relay). The one rule, applied by the
 * config schema, so the CLI, the dashboard and a hand-written file agree. Returns the problem, or undefined.
 */
export function baseUrlProblem(url: string, allowInsecureHttp = false): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `"${url}" is not a URL; write it in full, e.g. https://api.anthropic.com`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `the base URL must be http(s), not ${u.protocol}`;
  if (u.protocol === 'http:' && !isLoopbackHost(u.hostname) && !allowInsecureHttp) {
    return (
      `plain http to ${u.hostname} would send keys in clear text: use https, or, for a relay on a network you trust, ` +
      'set "allow_insecure_http": true on the endpoint (CLI: --allow-insecure-http)'
    );
  }
  return undefined;
}
