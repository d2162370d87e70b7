import { afterEach, describe, expect, it } from 'vitest';
import { runCli, tempHome, writeConfig } from '../helpers/cli.js';
import { Harness } from '../helpers/servers.js';
import { runClaude } from '../helpers/claude.js';
import { AWS, useAwsTestEnv, serviceAccount, serviceAccountFile } from '../helpers/clouds.js';
import type { Simulator } from '../../src/sim/simulator.js';

/**
 * The real `claude -p` through the real qcc (started by its CLI) to the simulated clouds: Claude Code speaks the
 * plain Messages API to qcc, and qcc speaks Bedrock (SigV4, event-stream) or Vertex (JWT grant, rawPredict) to
 * the endpoint. Claude Code 2.1.197 asks for claude-opus-4-8, which no built-in table knows yet: model_map names it,
 * as a user would.
 */

const h = new Harness();
let home: string | undefined;
const aws = useAwsTestEnv();
afterEach(async () => {
  if (home) await runCli(home, ['proxy', 'stop']);
  home = undefined;
  await h.closeAll();
});

interface Cloud {
  sim: Simulator;
  endpoint: Record<string, unknown>;
}

const CLOUDS: Record<string, () => Promise<Cloud>> = {
  bedrock: async () => {
    const sim = await h.sim({ name: 'bedrock', bedrock: { accessKeyId: AWS.accessKeyId, secretAccessKey: AWS.secretAccessKey } });
    const model_map = { 'claude-opus-4-8': 'us.anthropic.claude-opus-4-8-v1', 'claude-sonnet-5': 'us.anthropic.claude-sonnet-5-v1' };
    return { sim, endpoint: { id: 'bedrock', protocol: 'bedrock', base_url: sim.url, bedrock: { region: 'us-east-1' }, model_map } };
  },
  vertex: async () => {
    const account = serviceAccount();
    const sim = await h.sim({ name: 'vertex', vertex: { project: account.project, clientEmail: account.clientEmail, publicKey: account.publicKey } });
    const file = serviceAccountFile(account, `${sim.url}/token`);
    const model_map = { 'claude-opus-4-8': 'claude-opus-4-8', 'claude-sonnet-5': 'claude-sonnet-5' };
    return { sim, endpoint: { id: 'vertex', protocol: 'vertex', base_url: sim.url, vertex: { project: account.project, region: 'global', credentials_file: file }, model_map } };
  },
};

async function startQcc(endpoint: Record<string, unknown>): Promise<string> {
  home = tempHome();
  writeConfig(home, { version: 1, endpoints: [endpoint] });
  const start = await runCli(home, ['proxy', 'start', '--port', '0'], { env: aws.env });
  expect(start.code, start.stderr).toBe(0);
  return /listening on (\S+)/.exec(start.stdout)![1]!;
}

interface LogEntry {
  endpoint: string;
  status: number;
  cost_usd: number;
  tokens: { input: number; output: number };
}

async function logged(): Promise<LogEntry[]> {
  const logs = await runCli(home!, ['logs', '--json']);
  return logs.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogEntry);
}

describe.each(Object.keys(CLOUDS))('Claude Code through qcc to %s', (name) => {
  it('claude -p: a plain answer, with usage and cost in the request log', async () => {
    const { sim, endpoint } = await CLOUDS[name]!();
    sim.behavior = { answer: `hello from ${name}` };
    const url = await startQcc(endpoint);
    const { code, json, stderr } = await runClaude(url, { ANTHROPIC_API_KEY: 'client' }, 'say hi');
    expect(code, stderr).toBe(0);
    expect(json).toMatchObject({ is_error: false, result: `hello from ${name}` });
    expect(sim.cloud.authFailures).toBe(0);
    const entries = (await logged()).filter((e) => e.endpoint === name && e.status === 200);
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((e) => e.tokens.input > 0 && e.tokens.output > 0 && e.cost_usd > 0), JSON.stringify(entries)).toBe(true);
  });

  it('claude -p: a tool-use round trip (call, local run, result, answer)', async () => {
    const marker = `qcc-${name}-${process.pid}`;
    const { sim, endpoint } = await CLOUDS[name]!();
    sim.behavior = { toolCalls: [{ name: 'Bash', arguments: { command: `echo ${marker}`, description: 'print a marker' } }] };
    const url = await startQcc(endpoint);
    const { code, json, stderr } = await runClaude(url, { ANTHROPIC_API_KEY: 'client' }, 'run the marker command', ['--allowedTools', 'Bash']);
    expect(code, stderr).toBe(0);
    expect(json.is_error).toBe(false);
    expect(json.num_turns).toBeGreaterThanOrEqual(2);
    expect(json.result).toBe(`Tool result: ${marker}`);
    // The tool ran locally, and its result went back to the cloud in the Messages format the cloud takes.
    const bodies = sim.requests.filter((r) => r.method === 'POST' && !r.path.endsWith('/token')).map((r) => r.body.toString());
    expect(bodies.some((b) => b.includes('"tool_result"') && b.includes(marker))).toBe(true);
  });
});
