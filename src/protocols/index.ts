import type { EndpointRuntime } from '../endpoints/endpoint.js';
import type { Upstream } from '../upstream/types.js';
import type { Protocol } from './contract.js';
import { anthropic } from './anthropic/index.js';
import { openai } from './openai/index.js';
import { bedrock } from './bedrock/index.js';
import { vertex } from './vertex/index.js';

/** Every upstream protocol, by the name an endpoint's `protocol` gives. Adding one is a folder and a line here. */
const PROTOCOLS: Readonly<Record<string, Protocol>> = {
  anthropic,
  openai,
  bedrock,
  vertex,
};

export function protocolNamed(name: string): Protocol {
  const protocol = PROTOCOLS[name];
  if (protocol === undefined) throw new Error(`unknown protocol "${name}"`);
  return protocol;
}

/**
 * Fetch what the enabled endpoints sign or authenticate with (AWS credentials, a Vertex token) as soon as their
 * config applies, so the first request does not wait for it. A failure is kept as the endpoint's last error (status
 * and the dashboard show it) and reported.
 */
export function warmEndpoints(endpoints: readonly EndpointRuntime[], upstream: Upstream, onProblem: (endpoint: EndpointRuntime, problem: string) => void): void {
  for (const endpoint of endpoints) {
    if (!endpoint.config.enabled) continue;
    protocolNamed(endpoint.config.protocol)
      .warm?.(endpoint, upstream)
      .catch((e: unknown) => {
        endpoint.lastError = e instanceof Error ? e.message : String(e);
        onProblem(endpoint, endpoint.lastError);
      });
  }
}
