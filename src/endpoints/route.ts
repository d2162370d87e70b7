import { isLoopbackHost } from '../shared/loopback.js';
import { NoProxy } from './no-proxy.js';
import { isProxySpec, maskInText, parseProxyUrl, type ProxySpec } from '../shared/proxy-url.js';
import type { Route } from '../upstream/types.js';
import type { RouteInfo } from '../shared/api-types.js';

/**
 * Which way an endpoint is reached, decided once per config (not per request):
 *
 * 1. the endpoint's own `proxy` — a URL, or `"direct"` — wins, loopback included (an explicit choice);
 * 2. loopback endpoints are always reached directly otherwise;
 * 3. `proxy.upstream_proxy` (a URL or `"direct"`) is the default for every other endpoint;
 * 4. else the environment, as curl and undici read it: `https_proxy`/`HTTPS_PROXY` for https endpoints,
 *    `http_proxy`/`HTTP_PROXY` for http ones, `all_proxy`/`ALL_PROXY` for both (lower case first), unless
 *    `no_proxy`/`NO_PROXY` names the host. A value without a scheme is taken as `http://`.
 */

export type ProxyEnvironment = Readonly<Record<string, string | undefined>>;

export interface EndpointRoute extends Route, RouteInfo {}

const DIRECT = (source: RouteInfo['source']): EndpointRoute => ({ proxy: undefined, via: 'direct', source, label: 'direct', proxy_url: null });

function via(spec: ProxySpec, source: RouteInfo['source'], label: string): EndpointRoute {
  return { proxy: spec, via: 'proxy', source, label, proxy_url: spec.masked };
}

function broken(problem: string, source: RouteInfo['source'], label: string): EndpointRoute {
  return { proxy: undefined, problem, via: 'proxy', source, label, proxy_url: null };
}

/** An explicit setting (`endpoints[].proxy` or `proxy.upstream_proxy`), already validated by the schema. */
function explicit(setting: string, source: 'endpoint' | 'config'): EndpointRoute {
  if (setting === 'direct') return DIRECT(source);
  const spec = parseProxyUrl(setting);
  const where = source === 'endpoint' ? 'the endpoint\'s proxy' : 'proxy.upstream_proxy';
  if (!isProxySpec(spec)) return broken(`${where}: ${spec.problem}`, source, `via ${where} (invalid)`);
  return via(spec, source, `via ${spec.masked}`);
}

function firstSet(env: ProxyEnvironment, names: readonly string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return { name, value };
  }
  return undefined;
}

const HTTPS_VARS = ['https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'] as const;
const HTTP_VARS = ['http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY'] as const;

export function endpointRoute(baseUrl: string, endpointProxy: string | undefined, defaultProxy: string | undefined, env: ProxyEnvironment): EndpointRoute {
  if (endpointProxy !== undefined) return explicit(endpointProxy, 'endpoint');
  const url = new URL(baseUrl);
  if (isLoopbackHost(url.hostname)) return DIRECT('loopback');
  if (defaultProxy !== undefined) return explicit(defaultProxy, 'config');
  const https = url.protocol === 'https:';
  const found = firstSet(env, https ? HTTPS_VARS : HTTP_VARS);
  if (found === undefined) return DIRECT('none');
  const noProxy = firstSet(env, ['no_proxy', 'NO_PROXY']);
  const port = url.port === '' ? (https ? 443 : 80) : Number(url.port);
  if (noProxy && new NoProxy(noProxy.value).matches(url.hostname, port)) return DIRECT('no_proxy');
  const value = /^[a-z][a-z0-9+.-]*:\/\//i.test(found.value) ? found.value : `http://${found.value}`;
  const spec = parseProxyUrl(value);
  if (!isProxySpec(spec)) return broken(`environment variable ${found.name}: ${spec.problem}`, 'env', `via env ${found.name} (invalid: ${maskInText(found.value)})`);
  return via(spec, 'env', `via env ${found.name} (${spec.masked})`);
}

/** The public part of a route, field by field: the route object itself also holds the proxy's credentials. */
export function routeInfo(r: EndpointRoute): RouteInfo {
  return { via: r.via, source: r.source, label: r.label, proxy_url: r.proxy_url };
}
