import { afterEach, describe, expect, it } from 'vitest';
import { runCli, tempHome, writeConfig } from '../helpers/cli.js';
import { Harness } from '../helpers/servers.js';

import { runClaude } from '../helpers/claude.js';

const h = new Harness();
let home: string | undefined;
afterEach(async () => {
  if (home) await runCli(home, ['proxy', 'stop']);
  home = undefined;
  await h.closeAll();
});

describe('Claude Code through qcc', () => {
  it.each([
    ['x-api-key (ANTHROPIC_API_KEY)', { ANTHROPIC_API_KEY: 'sk-client-from-claude' }, 'x-api-key'],
    ['Bearer (ANTHROPIC_AUTH_TOKEN)', { ANTHROPIC_AUTH_TOKEN: 'tok-client-from-claude' }, 'bearer'],
  ] as const)('claude -p answers through the proxy, client auth %s', async (_label, clientAuth, mode) => {
    const sim = await h.sim({ name: 'sim-upstream', behavior: { answer: 'hello from the simulator' } });
    home = tempHome();
    writeConfig(home, { version: 1, endpoints: [{ id: 'sim', base_url: sim.url, api_key: 'sk-endpoint-own-key', auth_mode: mode }] });
    const start = await runCli(home, ['proxy', 'start', '--port', '0']);
    expect(start.code, start.stderr).toBe(0);
    const url = /listening on (\S+)/.exec(start.stdout)![1]!;

    const { code, json } = await runClaude(url, clientAuth, 'say hi');
    expect(code).toBe(0);
    expect(json.is_error).toBe(false);
    expect(json.result).toBe('hello from the simulator');

    const call = sim.requests.find((r) => r.method === 'POST' && r.path.startsWith('/v1/messages'));
    expect(call).toBeDefined();
    expect(call!.path).toBe('/v1/messages?beta=true');
    const body = JSON.parse(call!.body.toString('utf8')) as { stream: boolean; messages: unknown[]; tools?: unknown[] };
    expect(body.stream).toBe(true);
    expect(call!.headers['anthropic-beta']).toContain('claude-code-');
    expect(call!.headers['x-claude-code-session-id']).toBeDefined();
    // The endpoint's own key replaced the client's, in the configured style only.
    if (mode === 'x-api-key') {
      expect(call!.headers['x-api-key']).toBe('sk-endpoint-own-key');
      expect(call!.headers.authorization).toBeUndefined();
    } else {
      expect(call!.headers.authorization).toBe('Bearer sk-endpoint-own-key');
      expect(call!.headers['x-api-key']).toBeUndefined();
    }
  });

  it('claude -p through an OpenAI-protocol endpoint: a plain answer', async () => {
    const sim = await h.sim({ name: 'oai', behavior: { answer: 'hello via chat completions' } });
    home = tempHome();
    writeConfig(home, { version: 1, endpoints: [{ id: 'oai', base_url: sim.url, api_key: 'sk-openai', protocol: 'openai' }] });
    const start = await runCli(home, ['proxy', 'start', '--port', '0']);
    const url = /listening on (\S+)/.exec(start.stdout)![1]!;
    const { code, json } = await runClaude(url, { ANTHROPIC_API_KEY: 'client' }, 'say hi');
    expect(code).toBe(0);
    expect(json).toMatchObject({ is_error: false, result: 'hello via chat completions' });
    expect(sim.requests.some((r) => r.path === '/v1/chat/completions' && r.headers.authorization === 'Bearer sk-openai')).toBe(true);
  });

  it('claude -p through an OpenAI-protocol endpoint: a tool-use round trip (call, local run, result, answer)', async () => {
    const marker = `qcc-roundtrip-${process.pid}`;
    const sim = await h.sim({ name: 'oai', behavior: { toolCalls: [{ name: 'Bash', arguments: { command: `echo ${marker}`, description: 'print a marker' } }] } });
    home = tempHome();
    writeConfig(home, { version: 1, endpoints: [{ id: 'oai', base_url: sim.url, protocol: 'openai' }] });
    const start = await runCli(home, ['proxy', 'start', '--port', '0']);
    const url = /listening on (\S+)/.exec(start.stdout)![1]!;
    const { code, json, stderr } = await runClaude(url, { ANTHROPIC_API_KEY: 'client' }, 'run the marker command', ['--allowedTools', 'Bash']);
    expect(code, stderr).toBe(0);
    expect(json.is_error).toBe(false);
    expect(json.num_turns).toBeGreaterThanOrEqual(2);
    expect(json.result).toBe(`Tool result: ${marker}`);
    // The tool ran locally, and its output went back to the endpoint as a tool message.
    const withResult = sim.requests.map((r) => JSON.parse(r.body.toString() || '{}') as { messages?: { role: string; content: unknown }[] }).find((b) => b.messages?.at(-1)?.role === 'tool');
    expect(JSON.stringify(withResult!.messages!.at(-1)!.content)).toContain(marker);
  });

  it('claude -p with the first endpoint stalled after message_start: the hedge answers in seconds', async () => {
    const stuck = await h.sim({ name: 'stuck', behavior: { stallAfterStartMs: 120_000, answer: 'from the stuck one' } });
    const ok = await h.sim({ name: 'ok', behavior: { answer: 'hedged answer' } });
    home = tempHome();
    writeConfig(home, {
      version: 1,
      proxy: { strategy: 'priority', hedge: { after_ms: 500 } },
      endpoints: [
        { id: 'stuck', base_url: stuck.url, priority: 1 },
        { id: 'ok', base_url: ok.url, priority: 2 },
      ],
    });
    const start = await runCli(home, ['proxy', 'start', '--port', '0']);
    const url = /listening on (\S+)/.exec(start.stdout)![1]!;
    const t0 = Date.now();
    const { code, json, stderr } = await runClaude(url, { ANTHROPIC_API_KEY: 'client' }, 'say hi');
    expect(code, stderr).toBe(0);
    expect(json).toMatchObject({ is_error: false, result: 'hedged answer' });
    // Without hedging this waits for the stall (two minutes here; the first-byte timeout lets a pinging stream through).
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(stuck.abortedResponses).toBeGreaterThan(0); // the stalled attempt's connection was closed
    const logs = await runCli(home, ['logs', '--json']);
    const entries = logs.stdout.trim().split('\n').map((l) => JSON.parse(l) as { hedge: { outcome: string } | null; endpoint: string });
    expect(entries.some((e) => e.hedge?.outcome === 'won' && e.endpoint === 'ok')).toBe(true);
  });

  it("claude -p after a stream broke mid-way: Claude Code's non-streaming retry lands on the other endpoint", async () => {
    // `flaky` breaks every stream after two deltas (its non-streaming answers would be fine); `steady` never breaks.
    const flaky = await h.sim({ name: 'flaky', behavior: { deltas: 6, resetAfterDeltas: 2, answer: 'from flaky' } });
    const steady = await h.sim({ name: 'steady', behavior: { answer: 'from steady' } });
    home = tempHome();
    writeConfig(home, {
      version: 1,
      proxy: { strategy: 'priority', hedge: { enabled: false } },
      endpoints: [
        { id: 'flaky', base_url: flaky.url, priority: 1 },
        { id: 'steady', base_url: steady.url, priority: 2 },
      ],
    });
    const start = await runCli(home, ['proxy', 'start', '--port', '0']);
    const url = /listening on (\S+)/.exec(start.stdout)![1]!;
    const { code, json, stderr } = await runClaude(url, { ANTHROPIC_API_KEY: 'client' }, 'say hi');
    expect(code, stderr).toBe(0);
    expect(json).toMatchObject({ is_error: false, result: 'from steady' });
    const bodies = (sim: typeof flaky) =>
      sim.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v1/messages')).map((r) => JSON.parse(r.body.toString('utf8')) as { stream?: boolean });
    // The stream broke on flaky; the retry, without `stream`, went to steady (priority alone would send it to flaky).
    expect(bodies(flaky).some((b) => b.stream === true)).toBe(true);
    expect(bodies(flaky).some((b) => b.stream !== true)).toBe(false);
    expect(bodies(steady).some((b) => b.stream !== true)).toBe(true);
  });
});
