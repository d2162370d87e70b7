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
function credentialSource(profile: string | undefined): string {
  const named = profile ?? process.env.AWS_PROFILE;
  return named !== undefined
    ? `AWS profile "${named}" (~/.aws/config, ~/.aws/credentials, SSO cache)`
    : 'the default AWS credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws files, SSO, instance role)';
}

/**
 * @param fresh read the chain again (the endpoint's config was just applied: a profile may have been added or
 *   its keys rotated in the files since they were last read).
 */
export async function awsCredentials(profile: string | undefined, opts: { fresh?: boolean; now?: number } = {}): Promise<AwsCredentialIdentity> {
  const now = opts.now ?? Date.now();
  const id = profile ?? '';
  let source = sources.get(id);
  if (source === undefined || opts.fresh === true) {
    const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
    // ignoreCache: the files are read whenever the chain is (not from the SDK's process-wide cache), which the
    // memoised provider keeps to first use and expiry.
    source = { provider: defaultProvider({ ignoreCache: true, ...(profile !== undefined && { profile }) }) };
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

/** Forget one profile's provider (its credentials were refused): the chain is read again at the next call. */
export function forgetAwsProfile(profile: string | undefined): void {
  sources.delete(profile ?? '');
}

/** Forget every provider (tests). */
export function forgetAwsCredentials(): void {
  sources.clear();
}
