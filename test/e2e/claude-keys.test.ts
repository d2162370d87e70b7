import Anthropic from '@anthropic-ai/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { addKey } from '../../src/keys/manage.js';
import type { RequestRecord } from '../../src/proxy/events.js';
import { runClaude } from '../helpers/claude.js';
import { Harness } from '../helpers/servers.js';

/**
 * The real `claude -p` with a team member's key (#23): a rate limit is waited out by Claude Code's own backoff
 * (it honours retry-after), and a spent budget reaches the person as qcc's message, at once, not after minutes
 * of retries.
 */

const h = new Harness();
afterAll(() => h.closeAll());
const PEPPER = Buffer.from('e2e-pepper-e2e-pepper-e2e-pepper-e2e');

describe('Claude Code with a client key', () => {
  it('rate-limited: Claude Code backs off for the retry-after qcc sends, then succeeds', async () => {
    const sim = await h.sim({ behavior: { answer: 'hello after the wait' } });
    const base = configSchema.parse({ version: 1, endpoints: [{ id: 'sim', base_url: sim.url }] });
    const { config, secret } = addKey(base, 'dana', { rpm: 1 }, PEPPER, Date.now());
    // The clock runs 52 s ahead once the minute is used up: the one request allowed leaves the window 8 s later, so
    // Claude Code's first request (after its own start, a few seconds on a busy machine) still finds it full.
    let offset = 0;
    const records: RequestRecord[] = [];
    const { url } = await h.proxy(config, { keyPepper: PEPPER, now: () => Date.now() + offset, observer: { requestFinished: (r) => records.push(r) } });
    await new Anthropic({ baseURL: url, apiKey: secret, maxRetries: 0 }).messages.create({ model: 'claude-haiku-4-5-20251001', max_tokens: 8, messages: [{ role: 'user', content: 'use the minute' }] });
    offset = 52_000;
    const started = Date.now();
    const { code, json } = await runClaude(url, { ANTHROPIC_AUTH_TOKEN: secret }, 'say hi', [], { CLAUDE_CODE_MAX_RETRIES: '5' });
    expect(code).toBe(0);
    expect(json.result).toBe('hello after the wait');
    const refused = records.filter((r) => r.keyRefusal === 'rpm');
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    expect(records.every((r) => r.clientKey === 'dana')).toBe(true);
  });

  it('budget spent: claude prints the message naming the key, the budget and when it resets, without retrying', async () => {
    const sim = await h.sim({ behavior: { usage: { input_tokens: 1_000_000, output_tokens: 0 } } });
    const base = configSchema.parse({ version: 1, endpoints: [{ id: 'sim', base_url: sim.url }] });
    const { config, secret } = addKey(base, 'erin', { budget: { usd: 0.5, per: 'day' } }, PEPPER, Date.now());
    const records: RequestRecord[] = [];
    const { url } = await h.proxy(config, { keyPepper: PEPPER, observer: { requestFinished: (r) => records.push(r) } });
    // One answer at haiku's $1 per million input tokens: $1.00, over the $0.50 budget.
    await new Anthropic({ baseURL: url, apiKey: secret, maxRetries: 0 }).messages.create({ model: 'claude-haiku-4-5-20251001', max_tokens: 8, messages: [{ role: 'user', content: 'spend it' }] });
    const before = records.length;
    const started = Date.now();
    const { json } = await runClaude(url, { ANTHROPIC_AUTH_TOKEN: secret }, 'say hi', [], { CLAUDE_CODE_MAX_RETRIES: '5' });
    expect(json.is_error).toBe(true);
    // What the person sees, as claude printed it.
    expect(json.result).toMatch(/^API Error: Request rejected \(429\) · key "erin" has used its budget of \$0\.50 per day \(\$1\.00 spent\); it resets at \d{4}-\d\d-\d\dT00:00:00Z \(UTC\)$/);
    const refusals = records.slice(before).filter((r) => r.keyRefusal === 'budget');
    expect(refusals).toHaveLength(1); // no retry
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
