/**
 * The Messages body as the clouds take it (Bedrock, Vertex): no model (it goes in the URL), no stream flag (the URL
 * says it; Vertex has it put back through `extra`), no betas of the client's (Bedrock has them put back as its
 * `anthropic_beta`), and the cloud's own `anthropic_version` first. Everything else goes on as the client sent it.
 */
export function cloudBody(request: Record<string, unknown>, version: string, extra: Record<string, unknown>): Buffer {
  const { model: _model, stream: _stream, anthropic_beta: _beta, anthropic_version: _version, ...rest } = request;
  return Buffer.from(JSON.stringify({ anthropic_version: version, ...extra, ...rest }));
}
