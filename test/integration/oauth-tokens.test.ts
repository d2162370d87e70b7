import { afterAll, describe, expect, it } from 'vitest';
import { endpointSchema } from '../../src/config/schema.js';
import { EndpointRuntime } from '../../src/endpoints/endpoint.js';
import { upstreamRequestHeaders } from '../../src/protocols/anthropic/headers.js';
import { carriesOAuthToken, takesOAuthClient, withoutOAuthBeta } from '../../src/protocols/anthropic/oauth.js';
import { Harness, rawRequest } from '../helpers/servers.js';

/** A claude.ai subscription token (sk-ant-oat…) is only ever sent to the Anthropic API (or an endpoint that opts in). */

const harness = new Harness();
afterAll(() => harness.closeAll());

const OAUTH = 'Bearer sk-ant-oat01-user-subscription-secret';
const BETA = 'claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14';
const body = JSON.stringify({ model: 'claude-haiku-4-5-20251001', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
const send = (url: string, authorization = OAUTH) =>
  rawRequest(`${url}/v1/messages?beta=true`, { method: 'POST', headers: { 'content-type': 'application/json', authorization, 'anthropic-beta': BETA }, body });

describe('claude.ai subscription tokens stay with the Anthropic API', () => {
  it('a relay that would pass the client\'s credentials on is skipped; an endpoint with its own key serves, its key in place of the token and the oauth beta gone', async () => {
    const relay = await harness.sim({ name: 'relay' });
    const keyed = await harness.sim({ name: 'keyed' });
    const { url } = await harness.proxy({
      version: 1,
      proxy: { strategy: 'priority' },
      endpoints: [
        { id: 'relay', base_url: relay.url, priority: 0 },
        { id: 'keyed', base_url: keyed.url, api_key: 'sk-keyed-endpoint', priority: 1 },
      ],
    });
    const r = await send(url);
    expect(r.status).toBe(200);
    expect(r.headers['x-qcc-endpoint']).toBe('keyed');
    expect(r.headers['x-qcc-attempts']).toBe('1'); // passed over, not a failed attempt
    expect(relay.requests).toHaveLength(0);
    const seen = keyed.requests.at(-1)!.headers;
    expect(seen.authorization).toBe('Bearer sk-keyed-endpoint');
    expect(seen['x-api-key']).toBe('sk-keyed-endpoint');
    expect(seen['anthropic-beta']).toBe('claude-code-20250219,interleaved-thinking-2025-05-14');
    expect(JSON.stringify(keyed.requests.map((x) => x.headers))).not.toContain('sk-ant-oat');
  });

  it('with only such relays, the client is told why in a 403, and nothing is sent anywhere', async () => {
    const relay = await harness.sim({ name: 'relay' });
    const { url } = await harness.proxy({ version: 1, endpoints: [{ id: 'relay', base_url: relay.url }] });
    const r = await send(url);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toMatchObject({ type: 'error', error: { type: 'permission_error' } });
    expect(JSON.parse(r.body).error.message).toMatch(/subscription \(OAuth\) token, which qcc sends only to api\.anthropic\.com; .*relay/);
    expect(relay.requests).toHaveLength(0);
  });

  it('an endpoint that opts in gets the token and the beta list unchanged; other credentials pass to relays as before', async () => {
    const relay = await harness.sim({ name: 'relay' });
    const { url } = await harness.proxy({ version: 1, endpoints: [{ id: 'relay', base_url: relay.url, oauth_passthrough: true }] });
    expect((await send(url)).status).toBe(200);
    expect(relay.requests.at(-1)!.headers.authorization).toBe(OAUTH);
    expect(relay.requests.at(-1)!.headers['anthropic-beta']).toBe(BETA);
    const plain = await harness.proxy({ version: 1, endpoints: [{ id: 'relay', base_url: relay.url }] });
    expect((await send(plain.url, 'Bearer sk-ant-api03-regular-key')).status).toBe(200);
    expect(relay.requests.at(-1)!.headers.authorization).toBe('Bearer sk-ant-api03-regular-key');
  });

  it('the rule itself: the official host over https, a key of its own, or the opt-in', () => {
    const runtime = (cfg: Record<string, unknown>) => new EndpointRuntime(endpointSchema.parse({ id: 'e', ...cfg }));
    expect(takesOAuthClient(runtime({ base_url: 'https://api.anthropic.com' }))).toBe(true);
    expect(takesOAuthClient(runtime({ base_url: 'https://api.anthropic.com.evil.example' }))).toBe(false);
    expect(takesOAuthClient(runtime({ base_url: 'http://api.anthropic.com', allow_insecure_http: true }))).toBe(false); // not over https
    expect(takesOAuthClient(runtime({ base_url: 'https://relay.example', api_key: 'k' }))).toBe(true);
    expect(takesOAuthClient(runtime({ base_url: 'https://relay.example', oauth_passthrough: true }))).toBe(true);
    expect(carriesOAuthToken(OAUTH, undefined, undefined)).toBe(true);
    expect(carriesOAuthToken(OAUTH, undefined, 'authorization')).toBe(false); // that header carried qcc's own key
    expect(carriesOAuthToken(undefined, 'sk-ant-oat01-x', undefined)).toBe(true);
    expect(withoutOAuthBeta('oauth-2025-04-20')).toBeUndefined();
    // Node's path (the object) does the same as the front server's (the lines).
    const h = upstreamRequestHeaders({ authorization: OAUTH, 'anthropic-beta': BETA }, { key: 'k', mode: 'bearer', oauthClient: true }, 2);
    expect(h).toMatchObject({ authorization: 'Bearer k', 'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14' });
  });
});
