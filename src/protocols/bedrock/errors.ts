import type { IncomingHttpHeaders } from 'node:http';
import { anthropicErrorJson, type AnthropicErrorType } from '../../errors.js';
import type { HeldResponse } from '../contract.js';

/**
 * Bedrock's exceptions as Anthropic errors, with the status qcc's failover rules act on (proxy/policy.ts):
 * throttling is a 429 (the credential cools down, another endpoint answers), a model that is not ready or a
 * service that is unavailable is an overload (529: the endpoint cools down), a rejected credential or signature is
 * a 401 and a denied model a 403 (both fail over), a validation error is the request's own fault (400: returned).
 */

interface Mapped {
  status: number;
  type: AnthropicErrorType;
}

const EXCEPTIONS: Readonly<Record<string, Mapped>> = {
  throttlingexception: { status: 429, type: 'rate_limit_error' },
  servicequotaexceededexception: { status: 429, type: 'rate_limit_error' },
  toomanyrequestsexception: { status: 429, type: 'rate_limit_error' },
  modelnotreadyexception: { status: 529, type: 'overloaded_error' },
  serviceunavailableexception: { status: 529, type: 'overloaded_error' },
  internalserverexception: { status: 500, type: 'api_error' },
  modelerrorexception: { status: 500, type: 'api_error' },
  modelstreamerrorexception: { status: 500, type: 'api_error' },
  modeltimeoutexception: { status: 504, type: 'timeout_error' },
  validationexception: { status: 400, type: 'invalid_request_error' },
  accessdeniedexception: { status: 403, type: 'permission_error' },
  resourcenotfoundexception: { status: 404, type: 'not_found_error' },
  unrecognizedclientexception: { status: 401, type: 'authentication_error' },
  invalidsignatureexception: { status: 401, type: 'authentication_error' },
  expiredtokenexception: { status: 401, type: 'authentication_error' },
  incompletesignatureexception: { status: 401, type: 'authentication_error' },
  missingauthenticationtokenexception: { status: 401, type: 'authentication_error' },
};

const BY_STATUS: Readonly<Record<number, Mapped>> = {
  400: { status: 400, type: 'invalid_request_error' },
  401: { status: 401, type: 'authentication_error' },
  403: { status: 403, type: 'permission_error' },
  404: { status: 404, type: 'not_found_error' },
  408: { status: 504, type: 'timeout_error' },
  429: { status: 429, type: 'rate_limit_error' },
  503: { status: 529, type: 'overloaded_error' },
};

/** `ThrottlingException:http://internal.amazon.com/…` or `com.amazon…#ThrottlingException` → "ThrottlingException". */
function shortName(raw: string): string {
  const name = raw.split(':')[0]!;
  return name.slice(name.lastIndexOf('#') + 1);
}

function exceptionName(raw: string): string {
  return shortName(raw).toLowerCase();
}

export function mapException(name: string | undefined, status: number): Mapped {
  const known = name === undefined ? undefined : EXCEPTIONS[exceptionName(name)];
  return known ?? BY_STATUS[status] ?? { status: status >= 500 ? status : 400, type: status >= 500 ? 'api_error' : 'invalid_request_error' };
}

function messageOf(body: Buffer, fallback: string): { message: string; type?: string | undefined } {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    const message = parsed.message ?? parsed.Message;
    const type = typeof parsed.__type === 'string' ? parsed.__type : undefined;
    return { message: typeof message === 'string' ? message : fallback, type };
  } catch {
    return { message: body.toString('utf8').slice(0, 2000) || fallback };
  }
}

/** An HTTP error answer from Bedrock as an Anthropic error (the exception's name kept in the message). */
export function bedrockHttpError(status: number, body: Buffer, headers: IncomingHttpHeaders): HeldResponse {
  const header = headers['x-amzn-errortype'];
  const { message, type } = messageOf(body, `Bedrock answered HTTP ${status}`);
  const name = (Array.isArray(header) ? header[0] : header) ?? type;
  const mapped = mapException(name, status);
  const label = name === undefined ? '' : `${shortName(name)}: `;
  const out: IncomingHttpHeaders = { 'content-type': 'application/json' };
  if (headers['retry-after'] !== undefined) out['retry-after'] = headers['retry-after'];
  return { status: mapped.status, headers: out, body: Buffer.from(anthropicErrorJson(mapped.type, `Bedrock ${label}${message}`)) };
}

/** An exception frame inside an event stream, as the Anthropic error event's payload. */
export function bedrockStreamError(name: string, body: Uint8Array): { type: AnthropicErrorType; message: string } {
  const { message } = messageOf(Buffer.from(body), 'stream exception');
  return { type: mapException(name, 500).type, message: `Bedrock ${name}: ${message}` };
}
