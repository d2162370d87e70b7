import type { EndpointRuntime } from '../../endpoints/endpoint.js';

/**
 * claude.ai subscription tokens (`sk-ant-oat…`, sent by Claude Code as `Authorization: Bearer`) belong to the
 * Anthropic API alone: a relay that received one could use the user's subscription as it pleased. qcc forwards
 * such a token only to the official API host, or to an endpoint that opts in (`oauth_passthrough`). An endpoint
 * with its own key replaces the token with its key, and the OAuth capability (`oauth-…` in `anthropic-beta`)
 * goes with it, every other beta value kept.
 */

const OAUTH_PREFIX = 'sk-ant-oat';
export const OFFICIAL_API_HOST = 'api.anthropic.com';

/** The client's credential is a subscription (OAuth) token; `accessKeyHeader` (qcc's own key) is not looked at. */
export function carriesOAuthToken(authorization: string | undefined, apiKey: string | undefined, accessKeyHeader: string | undefined): boolean {
  if (accessKeyHeader === 'both') return false;
  if (accessKeyHeader !== 'authorization' && authorization !== undefined && authorization.startsWith(`Bearer ${OAUTH_PREFIX}`)) return true;
  return accessKeyHeader !== 'x-api-key' && apiKey !== undefined && apiKey.startsWith(OAUTH_PREFIX);
}

/** May this endpoint be sent a request whose client credential is a subscription token? */
export function takesOAuthClient(endpoint: EndpointRuntime): boolean {
  if (endpoint.ownsCredential) return true; // its own credential replaces the token, which is never sent
  if (endpoint.config.oauth_passthrough) return true;
  const url = new URL(endpoint.target.origin);
  return url.protocol === 'https:' && url.hostname === OFFICIAL_API_HOST;
}

/** `anthropic-beta` without the OAuth capability (undefined when nothing is left). */
export function withoutOAuthBeta(value: string): string | undefined {
  const kept = value.split(',').map((v) => v.trim()).filter((v) => v !== '' && !v.startsWith('oauth-'));
  return kept.length === 0 ? undefined : kept.join(',');
}
