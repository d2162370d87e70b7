import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, tempHome, writeConfig } from '../helpers/cli.js';
import { Harness } from '../helpers/servers.js';
import { AWS, useAwsTestEnv, privateKeyNeedle, serviceAccount, serviceAccountFile } from '../helpers/clouds.js';

/** Bedrock and Vertex endpoints from the command line: added, listed, checked, refused with a reason. */

const h = new Harness();
const aws = useAwsTestEnv();
afterEach(() => h.closeAll());

interface HealthReport {
  endpoints: { id: string; ok: boolean; keys?: { key: string; ok: boolean }[] }[];
  results: { endpoint: string; ok: boolean; error: string | null }[];
}

describe('qcc endpoint with cloud endpoints', () => {
  it('add and set: the region and credentials instead of a base URL and key; list says how each authenticates', async () => {
    const home = tempHome();
    writeConfig(home, { version: 1, endpoints: [] });
    const bedrock = await runCli(home, ['endpoint', 'add', 'aws', '--protocol', 'bedrock', '--region', 'us-east-1', '--aws-profile', 'team']);
    expect(bedrock.code, bedrock.stderr).toBe(0);
    expect(bedrock.stderr + bedrock.stdout).toContain('added endpoint aws (https://bedrock-runtime.us-east-1.amazonaws.com, key AWS profile team');
    const vertex = await runCli(home, ['endpoint', 'add', 'gcp', '--protocol', 'vertex', '--project', 'my-project-1', '--region', 'global', '--credentials-file', 'sa.json'], {});
    expect(vertex.code, vertex.stderr).toBe(0);
    const saved = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { endpoints: Record<string, unknown>[] };
    expect(saved.endpoints[0]).toMatchObject({ id: 'aws', protocol: 'bedrock', bedrock: { region: 'us-east-1', profile: 'team', inference_profile: 'auto' } });
    expect(saved.endpoints[0]!.base_url).toBeUndefined();
    expect((saved.endpoints[1]!.vertex as { credentials_file: string }).credentials_file).toMatch(/^\/.*sa\.json$/); // made absolute
    const list = await runCli(home, ['endpoint', 'list']);
    expect(list.stdout).toMatch(/aws\s+yes\s+https:\/\/bedrock-runtime\.us-east-1\.amazonaws\.com\s+AWS profile team/);
    expect(list.stdout).toMatch(/gcp\s+yes\s+https:\/\/aiplatform\.googleapis\.com\s+service account \//);

    // A second region and a pool of profiles; back to the default chain.
    expect((await runCli(home, ['endpoint', 'set', 'aws', '--region', 'eu-west-1', '--aws-profile', 'one,two'])).code).toBe(0);
    let again = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { endpoints: { bedrock?: Record<string, unknown> }[] };
    expect(again.endpoints[0]!.bedrock).toEqual({ region: 'eu-west-1', profiles: ['one', 'two'], inference_profile: 'auto' });
    expect((await runCli(home, ['endpoint', 'set', 'aws', '--aws-profile', ''])).code).toBe(0);
    again = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as typeof again;
    expect(again.endpoints[0]!.bedrock).toEqual({ region: 'eu-west-1', inference_profile: 'auto' });
  });

  it('refuses what cannot work, saying why, and writes nothing', async () => {
    const home = tempHome();
    const file = writeConfig(home, { version: 1, endpoints: [] });
    const before = readFileSync(file, 'utf8');
    const cases: [string[], string][] = [
      [['endpoint', 'add', 'x', '--base-url', 'https://api.anthropic.com', '--region', 'us-east-1'], '--region is for cloud endpoints: add --protocol bedrock or --protocol vertex'],
      [['endpoint', 'add', 'x', '--protocol', 'bedrock'], 'a Bedrock endpoint needs --region (the AWS region, e.g. --region us-east-1)'],
      [['endpoint', 'add', 'x', '--protocol', 'vertex', '--region', 'global'], 'a Vertex endpoint needs --project (the Google Cloud project id)'],
      [['endpoint', 'add', 'x', '--protocol', 'bedrock', '--region', 'Virginia'], 'must be an AWS region such as "us-east-1"'],
      [['endpoint', 'add', 'x', '--protocol', 'bedrock', '--region', 'us-east-1', '--project', 'p'], '--project is for Vertex endpoints (--protocol vertex)'],
      [['endpoint', 'add', 'x', '--protocol', 'vertex', '--project', 'my-project-1', '--region', 'us-east5', '--api-key', 'k'], 'Vertex authenticates with a service account'],
      [['endpoint', 'add', 'x'], 'base_url: required'],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(home, args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toContain(message);
    }
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('qcc endpoint test and qcc health talk to the clouds the way the proxy does (each profile of a pool apart)', async () => {
    const other = { accessKeyId: 'AKIAQCCCLIOTHER00003', secretAccessKey: 'other/secret/for/the/cli/test/00000000' };
    writeFileSync(aws.env.AWS_SHARED_CREDENTIALS_FILE!, `[good]\naws_access_key_id = ${AWS.accessKeyId}\naws_secret_access_key = ${AWS.secretAccessKey}\n[stale]\naws_access_key_id = ${other.accessKeyId}\naws_secret_access_key = not-the-secret-aws-knows\n`, { mode: 0o600 });
    const bedrock = await h.sim({ name: 'bedrock', bedrock: { accessKeyId: AWS.accessKeyId, secretAccessKey: AWS.secretAccessKey, more: [other] } });
    const account = serviceAccount();
    const vertex = await h.sim({ name: 'vertex', vertex: { project: account.project, clientEmail: account.clientEmail, publicKey: account.publicKey } });
    const home = tempHome();
    writeConfig(home, {
      version: 1,
      endpoints: [
        { id: 'aws', protocol: 'bedrock', base_url: bedrock.url, bedrock: { region: 'us-east-1', profiles: ['good', 'stale'] } },
        { id: 'gcp', protocol: 'vertex', base_url: vertex.url, vertex: { project: account.project, region: 'us-east5', credentials_file: serviceAccountFile(account, `${vertex.url}/token`) } },
      ],
    });
    const one = await runCli(home, ['endpoint', 'test', 'gcp'], { env: aws.env });
    expect(one.code, one.stderr + one.stdout).toBe(0);
    const r = await runCli(home, ['health', '--json'], { env: aws.env });
    const report = JSON.parse(r.stdout) as HealthReport;
    expect(report.endpoints.find((e) => e.id === 'gcp')).toMatchObject({ ok: true });
    expect(report.endpoints.find((e) => e.id === 'aws')).toMatchObject({ ok: true, keys: [{ key: 'profile good', ok: true }, { key: 'profile stale', ok: false }] });
    expect(report.results.find((x) => x.endpoint === 'aws key profile stale')!.error).toContain('InvalidSignatureException');

    // What the CLI prints never carries the AWS secrets or the service account's private key.
    const printed = [one.stdout, one.stderr, r.stdout, r.stderr];
    for (const args of [['endpoint', 'list'], ['endpoint', 'list', '--json'], ['config', 'show'], ['health']]) {
      const out = await runCli(home, args, { env: aws.env });
      printed.push(out.stdout, out.stderr);
    }
    const all = printed.join('\n');
    expect(all).toContain('gcp');
    for (const secret of [AWS.secretAccessKey, 'not-the-secret-aws-knows', privateKeyNeedle(account.privateKey)]) expect(all).not.toContain(secret);
  });

  it('a Bedrock API key is masked wherever the CLI shows it', async () => {
    const home = tempHome();
    writeConfig(home, { version: 1, endpoints: [] });
    const key = 'ABSKQmVkcm9ja0FQSUtleS1zZWNyZXQtdmFsdWUtMTIzNA==';
    const add = await runCli(home, ['endpoint', 'add', 'aws', '--protocol', 'bedrock', '--region', 'us-west-2', '--api-key-stdin'], { input: key });
    expect(add.code, add.stderr).toBe(0);
    const outputs = [add.stdout, add.stderr];
    for (const args of [['endpoint', 'list'], ['endpoint', 'list', '--json'], ['config', 'show'], ['config', 'export']]) {
      const out = await runCli(home, args);
      expect(out.code, args.join(' ')).toBe(0);
      outputs.push(out.stdout, out.stderr);
    }
    expect(outputs.join('\n')).toContain('…');
    expect(outputs.join('\n')).not.toContain(key);
  });
});
