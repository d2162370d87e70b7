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
