import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

/**
 * AWS credentials from the standard chain (@aws-sdk/credential-provider-node): environment variables, the SSO
 * cache, web identity, the shared config and credentials files (a named profile when the endpoint sets one),
 * credential_process, then container and instance metadata. One memoised provider per profile: it refreshes
 * temporary credentials before they expire, so a request normally finds them ready. The SDK is loaded on first
 * use, so a qcc without Bedrock endpoints never pays for it.
 *
 * A failure is remembered for a short while: the chain's last resort is the instance metadata service, which
 * off AWS costs a timeout, and a request must fail over at once rather than wait for it again.
 */

const FAILURE_MEMORY_MS = 30_000;

interface Source {
  provider: AwsCredentialIdentityProvider;
  failure?: { error: Error; until: number };
}

const sources = new Map<string, Source>();

/** How the chain is described in errors: where the user should look. */
export function credentialSource(profile: string | undefined): string {
  const named = profile ?? process.env.AWS_PROFILE;
  return named !== undefined
    ? `AWS profile "${named}" (~/.aws/config, ~/.aws/credentials, SSO cache)`
    : 'the default AWS credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws files, SSO, instance role)';
}

export async function awsCredentials(profile: string | undefined, now = Date.now()): Promise<AwsCredentialIdentity> {
  const id = profile ?? '';
  let source = sources.get(id);
  if (source === undefined) {
    const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
    source = { provider: defaultProvider(profile === undefined ? {} : { profile }) };
    sources.set(id, source);
  }
  if (source.failure !== undefined && source.failure.until > now) throw source.failure.error;
  try {
    const credentials = await source.provider();
    source.failure = undefined;
    return credentials;
  } catch (e: unknown) {
    const error = new Error(`no AWS credentials from ${credentialSource(profile)}: ${e instanceof Error ? e.message : String(e)}`);
    source.failure = { error, until: now + FAILURE_MEMORY_MS };
    throw error;
  }
}

/** Forget every provider (tests, and a config reload that may have changed the environment's files). */
export function forgetAwsCredentials(): void {
  sources.clear();
}
