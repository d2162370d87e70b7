/**
 * Outbound proxy URLs: `http://`, `https://`, `socks5://` and `socks5h://`, with optional `user:pass@`.
 * Shared by the config schema (validation), the route resolver (environment variables) and the transport
 * (tunnels), so one rule decides what a proxy URL is everywhere.
 */

export type ProxyScheme = 'http' | 'https' | 'socks5' | 'socks5h';

export interface ProxySpec {
  scheme: ProxyScheme;
  host: string;
  port: number;
  /** Decoded; undefined when the URL has none. */
  username: string | undefined;
  password: string | undefined;
  /** The URL with the password replaced by `***`: what listings, logs and errors show. */
  masked: string;
  /** The URL with nothing hidden, normalised: what tells two routes apart (never shown). */
  key: string;
}

const DEFAULT_PORTS: Record<ProxyScheme, number> = { http: 80, https: 443, socks5: 1080, socks5h: 1080 };

export const PROXY_URL_HINT = 'write it as http://host:port, https://host:port, socks5://host:port or socks5h://host:port (user:pass@ allowed), or "direct"';

/** Parse a proxy URL; returns the problem as a sentence instead of throwing. */
export function parseProxyUrl(raw: string): ProxySpec | { problem: string } {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return { problem: `"${maskInText(raw)}" is not a URL; ${PROXY_URL_HINT}` };
  }
  const scheme = u.protocol.slice(0, -1);
  if (scheme === 'socks' || scheme === 'socks4' || scheme === 'socks4a') {
    return { problem: `${scheme}:// is not supported; qcc speaks SOCKS5 (socks5:// resolves names locally, socks5h:// at the proxy)` };
  }
  if (scheme !== 'http' && scheme !== 'https' && scheme !== 'socks5' && scheme !== 'socks5h') {
    return { problem: `unsupported proxy scheme "${scheme}:"; ${PROXY_URL_HINT}` };
  }
  if (u.hostname === '') return { problem: `the proxy URL has no host; ${PROXY_URL_HINT}` };
  if ((u.pathname !== '' && u.pathname !== '/') || u.search !== '' || u.hash !== '') {
    return { problem: `a proxy URL is scheme://host:port only, without a path, query or fragment (${maskProxyUrl(raw)})` };
  }
  let username: string | undefined;
  let password: string | undefined;
  try {
    username = u.username === '' ? undefined : decodeURIComponent(u.username);
    password = u.password === '' ? undefined : decodeURIComponent(u.password);
  } catch {
    return { problem: 'the proxy credentials are not valid percent-encoding; encode reserved characters (e.g. @ as %40)' };
  }
  if ((scheme === 'socks5' || scheme === 'socks5h') && ((username ?? '').length > 255 || (password ?? '').length > 255)) {
    return { problem: 'SOCKS5 user names and passwords are at most 255 bytes' };
  }
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port === '' ? DEFAULT_PORTS[scheme] : Number(u.port);
  const hostPort = `${u.hostname}:${port}`;
  const user = u.username === '' ? '' : u.username;
  const auth = user === '' && u.password === '' ? '' : `${user}${u.password === '' ? '' : ':***'}@`;
  const fullAuth = user === '' && u.password === '' ? '' : `${user}${u.password === '' ? '' : `:${u.password}`}@`;
  return {
    scheme,
    host,
    port,
    username,
    password,
    masked: `${scheme}://${auth}${hostPort}`,
    key: `${scheme}://${fullAuth}${hostPort}`,
  };
}

export function isProxySpec(v: ProxySpec | { problem: string }): v is ProxySpec {
  return !('problem' in v);
}

/** A proxy URL for display: the password, if any, becomes `***`. Anything unparsable is masked as a whole after the scheme. */
export function maskProxyUrl(raw: string): string {
  return replacedPassword(raw, '***') ?? maskInText(raw);
}

/** The URL without its password (kept: scheme, user name, host, port): what an export without secrets holds. */
export function withoutPassword(raw: string): string {
  return replacedPassword(raw, '') ?? raw;
}

/** `raw` with its password, if any, replaced by `by`; undefined when `raw` is not a URL. */
function replacedPassword(raw: string, by: string): string | undefined {
  try {
    const u = new URL(raw);
    if (u.password === '') return raw;
    u.password = by;
    return u.toString().replace(/\/$/, '');
  } catch {
    return undefined;
  }
}

/** Hide anything that looks like `user:password@` inside free text (error messages, env values that are not URLs). */
export function maskInText(text: string): string {
  return text.replace(/(\/\/|^|\s)([^\s/:@]*):([^\s/@]+)@/g, (_m, lead: string, user: string) => `${lead}${user}:***@`);
}
