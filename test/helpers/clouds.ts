import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { forgetAwsCredentials } from '../../src/protocols/bedrock/credentials.js';

/** Test credentials for the simulated clouds. Never real ones; the values are checked for in logs and outputs. */
export const AWS = {
  accessKeyId: 'AKIAQCCTESTKEY000001',
  secretAccessKey: 'qccTestSecretAccessKey/abcdefghijklmnopqrstu',
  sessionToken: 'qccTestSessionToken//FwoGZXIvYXdzEJr//////////wEaDH',
};

/**
 * The AWS credential chain pointed at these test credentials (environment variables), with the shared files
 * and the instance metadata service out of reach, so no test reads the machine's ~/.aws or touches the network.
 * Returns the environment for a child process; also applied to this process until `restore` is called.
 */
export function awsTestEnv(creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = AWS): { env: Record<string, string>; restore: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'qcc-aws-'));
  const env: Record<string, string> = {
    AWS_ACCESS_KEY_ID: creds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
    ...(creds.sessionToken !== undefined && { AWS_SESSION_TOKEN: creds.sessionToken }),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
    AWS_CONFIG_FILE: join(dir, 'config'),
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const saved = new Map<string, string | undefined>();
  for (const name of [...Object.keys(env), 'AWS_PROFILE', 'AWS_SESSION_TOKEN']) saved.set(name, process.env[name]);
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
  Object.assign(process.env, env);
  forgetAwsCredentials();
  return {
    env,
    restore: () => {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      forgetAwsCredentials();
    },
  };
}

/**
 * awsTestEnv for a whole test file: applied before its tests, restored after them. Returns the environment (for
 * child processes, and for writing profiles into its credentials file).
 */
export function useAwsTestEnv(): { readonly env: Record<string, string> } {
  let applied: ReturnType<typeof awsTestEnv> | undefined;
  beforeAll(() => {
    applied = awsTestEnv();
  });
  afterAll(() => applied?.restore());
  return {
    get env() {
      if (applied === undefined) throw new Error('useAwsTestEnv: read its env inside a test');
      return applied.env;
    },
  };
}

/** Write a profile into the test's shared credentials file (the chain's ini provider reads it). */
export function writeAwsProfile(env: Record<string, string>, profile: string, creds: { accessKeyId: string; secretAccessKey: string }): void {
  writeFileSync(env.AWS_SHARED_CREDENTIALS_FILE!, `[${profile}]\naws_access_key_id = ${creds.accessKeyId}\naws_secret_access_key = ${creds.secretAccessKey}\n`, { mode: 0o600 });
}

export interface TestServiceAccount {
  clientEmail: string;
  publicKey: string;
  privateKey: string;
  project: string;
}

/** A service account's identity and key pair (the simulator is given the public half). */
export function serviceAccount(project = 'qcc-test-project'): TestServiceAccount {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    clientEmail: `qcc-test@${project}.iam.gserviceaccount.com`,
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    project,
  };
}

/** Its key file, as Google issues them, with token_uri pointing at the simulator's token endpoint. */
export function serviceAccountFile(account: TestServiceAccount, tokenUri: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'qcc-gcp-')), 'service-account.json');
  writeFileSync(
    file,
    JSON.stringify({
      type: 'service_account',
      project_id: account.project,
      private_key_id: 'a1b2c3d4e5f6',
      private_key: account.privateKey,
      client_email: account.clientEmail,
      client_id: '100000000000000000001',
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: tokenUri,
    }),
    { mode: 0o600 },
  );
  return file;
}

/** The private key's body, as a needle to search outputs for (the PEM's base64 without its armour). */
export function privateKeyNeedle(pem: string): string {
  return pem.split('\n').slice(2, 3).join('');
}
