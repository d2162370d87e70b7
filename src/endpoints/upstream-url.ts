/**
 * Where an endpoint's requests go. A `base_url` may carry a path prefix (`https://relay.example/api/anthropic`),
 * a trailing `/`, or a trailing `/v1`; none of these may produce `//v1` or `/v1/v1`.
 */
export interface UpstreamTarget {
  /** `https://host:port`, what undici dispatches to. */
  origin: string;
  /** Path prefix without a trailing slash and without a trailing `/v1` (`""` for none). */
  prefix: string;
}

export function upstreamTarget(baseUrl: string): UpstreamTarget {
  const url = new URL(baseUrl);
  let prefix = url.pathname.replace(/\/+$/, '');
  if (prefix.endsWith('/v1')) prefix = prefix.slice(0, -3);
  return { origin: url.origin, prefix };
}

/** `clientPath` is the client's request target, query string included (kept byte for byte). */
export function upstreamPath(target: UpstreamTarget, clientPath: string): string {
  const path = clientPath.startsWith('/') ? clientPath : `/${clientPath}`;
  return target.prefix + path;
}
