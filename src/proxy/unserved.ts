import type { EndpointRuntime } from '../endpoints/endpoint.js';

/**
 * When no enabled endpoint serves a request's model at all (as opposed to all of them being busy or cooling): why,
 * endpoint by endpoint, in words a person can act on. Undefined when some endpoint does serve it. Such a request is
 * answered 404 rather than 503: waiting and retrying cannot help, a config change can.
 */
export function unservedModel(endpoints: readonly EndpointRuntime[], model: string): string | undefined {
  const enabled = endpoints.filter((e) => e.config.enabled);
  if (enabled.length === 0 || enabled.some((e) => e.servesModel(model))) return undefined;
  const reasons = enabled.slice(0, 5).map((e) => {
    const { protocol, models } = e.config;
    if (models.length > 0 && !e.servesModelName(model)) return `${e.id} serves only ${models.join(', ')}`;
    const cloud = protocol === 'bedrock' ? 'Bedrock' : 'Vertex AI';
    return `${e.id} has no ${cloud} model id for it (map one: qcc endpoint set ${e.id} --model-map '${model}=…')`;
  });
  const more = enabled.length > 5 ? `, and ${enabled.length - 5} more` : '';
  return `no endpoint serves model "${model}": ${reasons.join('; ')}${more}`;
}
