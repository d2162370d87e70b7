import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import type { Route, Upstream } from '../../upstream/types.js';
import { requestResponse } from '../../upstream/request.js';

/**
 * Access tokens for Vertex AI. A credentials file (`vertex.credentials_file`, or the file GOOGLE_APPLICATION_CREDENTIALS
 * or gcloud's application-default file holds) is exchanged for a token at the file's own `token_uri`, through qcc's
 * upstream client and the endpoint's route (so a proxy applies, and a private or test token endpoint works): a
 * service account with the JWT-bearer grant (RFC 7523, signed RS256 with node:crypto), a gcloud user login with the
 * refresh-token grant. google-auth-library's JWT client would post to Google's fixed token URL whatever the file
 * says, so it is used only for the rest of Application Default Credentials (workload identity federation, the
 * metadata server).
 *
 * Tokens are cached per credential source and refreshed in the background once less than REFRESH_BEFORE_S of
 * their life is left, so requests find one ready; only the first request after a cold start (or a long outage)
 * waits. A failed fetch is remembered for FAILURE_MEMORY_MS, so requests fail over at once instead of each waiting
 * for the token endpoint again.
 */

export const SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const REFRESH_BEFORE_S = 300;
const FAILURE_MEMORY_MS = 10_000;
const FETCH_TIMEOUT_MS = 10_000;
const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

interface ServiceAccount {
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri: string;
}

export interface TokenContext {
  upstream: Upstream;
  route: Route;
  /** The endpoint's `vertex.credentials_file`, if it has one. */
  credentialsFile: string | undefined;
}

interface Token {
  value: string;
  expiresAt: number;
}

const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';

/**
 * A credentials file's way to a token: the JWT-bearer grant of a service account, or the refresh-token grant of a
 * user's login (`gcloud auth application-default login` writes an "authorized_user" file). Both are a form posted
 * to the file's token URI.
 */
interface Grant {
  tokenUri: string;
  /** Who asks, in words for errors (never a secret). */
  who: string;
  form(nowS: number): Record<string, string>;
}

/** Where the credentials come from, in words for errors (never their content). */
function describeSource(file: string | undefined, who = 'credentials'): string {
  return file === undefined ? `Application Default Credentials (${who})` : `${who} from ${file}`;
}

/** The grant a credentials file holds; undefined for the kinds left to google-auth-library (external accounts, …). */
async function readGrant(file: string): Promise<Grant | undefined> {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (e: unknown) {
    throw new Error(`cannot read the credentials file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const tokenUri = typeof parsed.token_uri === 'string' ? parsed.token_uri : GOOGLE_TOKEN_URI;
  if (parsed.type === 'authorized_user') {
    const { client_id, client_secret, refresh_token } = parsed;
    if (typeof client_id !== 'string' || typeof client_secret !== 'string' || typeof refresh_token !== 'string') throw new Error(`${file} is a user credentials file without client_id, client_secret or refresh_token`);
    return { tokenUri, who: 'a gcloud user login', form: () => ({ grant_type: 'refresh_token', client_id, client_secret, refresh_token }) };
  }
  if (parsed.type !== 'service_account') return undefined;
  const { client_email, private_key, private_key_id } = parsed;
  if (typeof client_email !== 'string' || typeof private_key !== 'string') throw new Error(`${file} is a service account file without client_email or private_key`);
  const account: ServiceAccount = { client_email, private_key, ...(typeof private_key_id === 'string' && { private_key_id }), token_uri: tokenUri };
  const key = createPrivateKey(private_key);
  return {
    tokenUri,
    who: `service account ${client_email}`,
    form: (nowS) => ({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: jwtAssertion(account, key, nowS) }),
  };
}

/** The file Application Default Credentials would use, if there is one. */
function adcFile(): string | undefined {
  const env = process.env.GOOGLE_APPLICATION_CREDENTIALS;
  if (env) return env;
  const base = process.env.CLOUDSDK_CONFIG ?? join(process.env.APPDATA ?? join(homedir(), '.config'), 'gcloud');
  return join(base, 'application_default_credentials.json');
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** The signed JWT assertion of RFC 7523 §2.1, as Google's token endpoint expects it. */
export function jwtAssertion(account: ServiceAccount, key: KeyObject, nowS: number): string {
  const header = base64url({ alg: 'RS256', typ: 'JWT', ...(account.private_key_id !== undefined && { kid: account.private_key_id }) });
  const claims = base64url({ iss: account.client_email, scope: SCOPE, aud: account.token_uri, iat: nowS, exp: nowS + 3600 });
  const signature = sign('RSA-SHA256', Buffer.from(`${header}.${claims}`), key).toString('base64url');
  return `${header}.${claims}.${signature}`;
}

async function readBounded(body: AsyncIterable<unknown>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > MAX_TOKEN_RESPONSE_BYTES) throw new Error(`token answer over ${MAX_TOKEN_RESPONSE_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function exchange(grant: Grant, ctx: TokenContext, now: number): Promise<Token> {
  const url = new URL(grant.tokenUri);
  const body = Buffer.from(new URLSearchParams(grant.form(Math.floor(now / 1000))).toString());
  const res = await requestResponse(
    ctx.upstream,
    {
      origin: url.origin,
      route: ctx.route,
      path: url.pathname + url.search,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'content-length': String(body.length) },
      body,
      headersTimeout: FETCH_TIMEOUT_MS,
      bodyTimeout: FETCH_TIMEOUT_MS,
    },
    AbortSignal.timeout(FETCH_TIMEOUT_MS),
  );
  const text = await readBounded(res.body);
  let parsed: { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown } = {};
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    /* reported below */
  }
  if (res.statusCode !== 200 || typeof parsed.access_token !== 'string') {
    const why = [parsed.error, parsed.error_description].filter((v): v is string => typeof v === 'string').join(': ') || text.slice(0, 200);
    throw new Error(`HTTP ${res.statusCode}${why ? `: ${why}` : ''}`);
  }
  const expiresIn = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 3600;
  return { value: parsed.access_token, expiresAt: now + expiresIn * 1000 };
}

/** google-auth-library for the kinds of credentials that are not a service account's key file. */
async function libraryToken(now: number): Promise<Token> {
  const { GoogleAuth } = await import('google-auth-library');
  const client = await new GoogleAuth({ scopes: [SCOPE] }).getClient();
  const { token } = await client.getAccessToken();
  if (!token) throw new Error('Application Default Credentials gave no access token');
  const expiry = (client.credentials as { expiry_date?: number | null }).expiry_date;
  return { value: token, expiresAt: typeof expiry === 'number' ? expiry : now + 3000_000 };
}

export class TokenSource {
  private token: Token | undefined;
  private inflight: Promise<Token> | undefined;
  private failure: { error: Error; until: number } | undefined;
  /** The file's grant, read once; null: the library's kinds of credentials. */
  private grant: Grant | null | undefined;

  constructor(
    private readonly ctx: TokenContext,
    private readonly now: () => number = Date.now,
  ) {}

  /** A valid token now, if one is cached (and a refresh started in the background when it is getting old). */
  cached(): string | undefined {
    const token = this.token;
    const now = this.now();
    if (token === undefined || token.expiresAt <= now + 30_000) return undefined;
    if (token.expiresAt - now < REFRESH_BEFORE_S * 1000) this.refresh().catch(() => undefined);
    return token.value;
  }

  /** The endpoint refused this token (revoked, or its account changed): dropped, so the next call fetches another. */
  refused(token: string): void {
    if (this.token?.value === token) this.token = undefined;
  }

  /** A valid token, fetched if need be; rejects with an error that names the token endpoint and the credentials. */
  async get(): Promise<string> {
    return this.cached() ?? (await this.refresh()).value;
  }

  private refresh(): Promise<Token> {
    const now = this.now();
    if (this.failure !== undefined && this.failure.until > now) return Promise.reject(this.failure.error);
    this.inflight ??= this.fetch().then(
      (token) => {
        this.inflight = undefined;
        this.failure = undefined;
        this.token = token;
        return token;
      },
      (e: unknown) => {
        this.inflight = undefined;
        const error = e instanceof Error ? e : new Error(String(e));
        this.failure = { error, until: this.now() + FAILURE_MEMORY_MS };
        throw error;
      },
    );
    return this.inflight;
  }

  private async fetch(): Promise<Token> {
    const file = this.ctx.credentialsFile ?? adcFile();
    if (this.grant === undefined) {
      const grant = file === undefined ? undefined : await readGrant(file).catch((e: unknown) => {
        // Without an explicit file, a missing ADC file only means "ask the library" (metadata server and the like).
        if (this.ctx.credentialsFile === undefined && !process.env.GOOGLE_APPLICATION_CREDENTIALS) return undefined;
        throw e;
      });
      this.grant = grant ?? null;
    }
    const grant = this.grant;
    if (grant === null) {
      try {
        return await libraryToken(this.now());
      } catch (e: unknown) {
        throw new Error(`no access token from ${describeSource(this.ctx.credentialsFile)}: ${(e as Error).message}`);
      }
    }
    try {
      return await exchange(grant, this.ctx, this.now());
    } catch (e: unknown) {
      throw new Error(`token refresh failed at ${grant.tokenUri} for ${describeSource(this.ctx.credentialsFile, grant.who)}: ${(e as Error).message}`);
    }
  }
}
