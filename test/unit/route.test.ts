import { describe, expect, it } from 'vitest';
import { NoProxy } from '../../src/endpoints/no-proxy.js';
import { isProxySpec, maskInText, maskProxyUrl, parseProxyUrl, withoutPassword } from '../../src/shared/proxy-url.js';
import { endpointRoute } from '../../src/endpoints/route.js';
import { configSchema } from '../../src/config/schema.js';

describe('NO_PROXY matching', () => {
  // [NO_PROXY value, host, port, direct?]
  const table: [string, string, number, boolean][] = [
    ['', 'api.anthropic.com', 443, false],
    ['*', 'api.anthropic.com', 443, true],
    ['anthropic.com', 'api.anthropic.com', 443, true],
    ['anthropic.com', 'anthropic.com', 443, true],
    ['anthropic.com', 'notanthropic.com', 443, false],
    ['.anthropic.com', 'api.anthropic.com', 443, true],
    ['.anthropic.com', 'anthropic.com', 443, true],
    ['*.anthropic.com', 'api.anthropic.com', 443, true],
    ['ANTHROPIC.COM', 'Api.Anthropic.Com', 443, true],
    ['example.com, anthropic.com', 'api.anthropic.com', 443, true],
    ['example.com anthropic.com', 'api.anthropic.com', 443, true],
    ['relay.example:8443', 'relay.example', 8443, true],
    ['relay.example:8443', 'relay.example', 443, false],
    ['10.1.2.3', '10.1.2.3', 80, true],
    ['10.1.2.3', '10.1.2.4', 80, false],
    ['10.0.0.0/8', '10.200.3.4', 443, true],
    ['10.0.0.0/8', '11.0.0.1', 443, false],
    ['192.168.1.0/24:3000', '192.168.1.10', 3000, true],
    ['192.168.1.0/24', '192.168.2.10', 3000, false],
    ['fd00::/8', 'fd12::1', 443, true],
    ['fd00::/8', '[fd12::1]', 443, true],
    ['::1', '::1', 443, true],
    ['[::1]:8443', '::1', 8443, true],
    ['[::1]:8443', '::1', 443, false],
    // An address range never matches a name (no lookups decide routing), nor a name an address.
    ['10.0.0.0/8', 'ten.example', 443, false],
    ['example.com', '93.184.216.34', 443, false],
    ['bad/99', 'bad', 443, false],
    ['localhost', 'localhost', 7860, true],
  ];
  it.each(table)('NO_PROXY=%j, %s:%i → direct %s', (value, host, port, direct) => {
    expect(new NoProxy(value).matches(host, port)).toBe(direct);
  });
});

describe('proxy URLs', () => {
  it('parses every supported scheme with default ports and decoded credentials', () => {
    const http = parseProxyUrl('http://proxy.corp:3128');
    expect(isProxySpec(http) && [http.scheme, http.host, http.port, http.username]).toEqual(['http', 'proxy.corp', 3128, undefined]);
    const https = parseProxyUrl('https://proxy.corp');
    expect(isProxySpec(https) && https.port).toBe(443);
    const socks = parseProxyUrl('socks5h://u%40corp:p%3Ass@127.0.0.1');
    expect(isProxySpec(socks) && [socks.scheme, socks.port, socks.username, socks.password, socks.masked]).toEqual([
      'socks5h',
      1080,
      'u@corp',
      'p:ss',
      'socks5h://u%40corp:***@127.0.0.1:1080',
    ]);
    const v6 = parseProxyUrl('socks5://[::1]:9050');
    expect(isProxySpec(v6) && [v6.host, v6.port]).toEqual(['::1', 9050]);
  });

  it.each([
    ['socks4://127.0.0.1:1080', /SOCKS5/],
    ['ftp://proxy:21', /unsupported proxy scheme/],
    ['http://proxy:3128/path', /without a path/],
    ['not a url', /not a URL/],
    ['http://:3128', /not a URL|no host/],
  ])('refuses %s and says why', (url, why) => {
    const r = parseProxyUrl(url);
    expect(isProxySpec(r)).toBe(false);
    expect(!isProxySpec(r) && r.problem).toMatch(why);
  });

  it('masks passwords in URLs and in free text, and can drop them', () => {
    expect(maskProxyUrl('http://alice:s3cret@proxy:3128')).toBe('http://alice:***@proxy:3128');
    expect(maskProxyUrl('http://proxy:3128')).toBe('http://proxy:3128');
    expect(maskInText('proxy alice:s3cret@proxy:3128 failed')).toBe('proxy alice:***@proxy:3128 failed');
    expect(maskInText('see http://bob:pw@h:1 and socks5://carol:x@h:2')).toBe('see http://bob:***@h:1 and socks5://carol:***@h:2');
    expect(withoutPassword('socks5h://alice:s3cret@127.0.0.1:1080')).toBe('socks5h://alice@127.0.0.1:1080');
  });

  it('is validated by the config schema, naming the JSON path', () => {
    const bad = configSchema.safeParse({ version: 1, proxy: { upstream_proxy: 'socks4://x:1' }, endpoints: [{ id: 'a', base_url: 'https://a.example', proxy: 'gopher://x' }] });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['proxy.upstream_proxy', 'endpoints.0.proxy']));
    expect(configSchema.safeParse({ version: 1, proxy: { upstream_proxy: 'direct' }, endpoints: [{ id: 'a', base_url: 'https://a.example', proxy: 'socks5h://u:p@127.0.0.1:1080' }] }).success).toBe(true);
  });
});

describe('endpoint routes', () => {
  const env = { HTTPS_PROXY: 'http://envproxy:3128', HTTP_PROXY: 'http://plainproxy:3128', NO_PROXY: '.internal,10.0.0.0/8' };

  it('the endpoint\'s own setting wins, loopback included', () => {
    expect(endpointRoute('http://127.0.0.1:9000', 'socks5h://127.0.0.1:1080', 'http://default:1', env)).toMatchObject({ via: 'proxy', source: 'endpoint', label: 'via socks5h://127.0.0.1:1080' });
    expect(endpointRoute('https://api.anthropic.com', 'direct', 'http://default:1', env)).toMatchObject({ via: 'direct', source: 'endpoint', proxy: undefined });
  });

  it('loopback endpoints are never proxied by the default or the environment', () => {
    for (const url of ['http://127.0.0.1:9000', 'http://localhost:9000', 'http://[::1]:9000']) {
      expect(endpointRoute(url, undefined, 'http://default:1', env)).toMatchObject({ via: 'direct', source: 'loopback' });
    }
  });

  it('proxy.upstream_proxy comes before the environment, and "direct" there ignores it', () => {
    expect(endpointRoute('https://api.anthropic.com', undefined, 'socks5://default:1080', env)).toMatchObject({ source: 'config', label: 'via socks5://default:1080' });
    expect(endpointRoute('https://api.anthropic.com', undefined, 'direct', env)).toMatchObject({ via: 'direct', source: 'config' });
  });

  it('the environment: the scheme\'s variable, lower case first, ALL_PROXY after, NO_PROXY excepted', () => {
    expect(endpointRoute('https://api.anthropic.com', undefined, undefined, env)).toMatchObject({ source: 'env', label: 'via env HTTPS_PROXY (http://envproxy:3128)' });
    expect(endpointRoute('http://lan.example:3000', undefined, undefined, env)).toMatchObject({ label: 'via env HTTP_PROXY (http://plainproxy:3128)' });
    expect(endpointRoute('https://a.example', undefined, undefined, { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:1' }).proxy_url).toBe('http://lower:1');
    expect(endpointRoute('https://a.example', undefined, undefined, { ALL_PROXY: 'socks5h://all:1080' })).toMatchObject({ label: 'via env ALL_PROXY (socks5h://all:1080)' });
    expect(endpointRoute('https://relay.internal', undefined, undefined, env)).toMatchObject({ via: 'direct', source: 'no_proxy' });
    expect(endpointRoute('https://10.3.3.3:8443', undefined, undefined, env)).toMatchObject({ via: 'direct', source: 'no_proxy' });
    expect(endpointRoute('https://a.example', undefined, undefined, {})).toMatchObject({ via: 'direct', source: 'none' });
  });

  it('a variable without a scheme is http://; an unusable one fails requests instead of silently going direct', () => {
    expect(endpointRoute('https://a.example', undefined, undefined, { HTTPS_PROXY: 'proxy.corp:3128' }).proxy_url).toBe('http://proxy.corp:3128');
    const broken = endpointRoute('https://a.example', undefined, undefined, { HTTPS_PROXY: 'socks4://u:pw@x:1' });
    expect(broken.problem).toMatch(/HTTPS_PROXY: socks4:\/\/ is not supported/);
    expect(broken.label).not.toContain('pw');
  });

  it('shows credentials masked and keeps them out of every field but the spec', () => {
    const r = endpointRoute('https://a.example', 'http://alice:s3cret@proxy:3128', undefined, {});
    expect(r.label).toBe('via http://alice:***@proxy:3128');
    expect(r.proxy_url).toBe('http://alice:***@proxy:3128');
    expect(r.proxy?.password).toBe('s3cret');
  });
});
