// Reference point, not product code: node:http receiving the request and sending back the very bytes the
// simulator would (fetched once at start), with no upstream at all. Whatever a proxy built on node:http does,
// it pays at least this on its client side; the gap between this and a proxy is its upstream side and its work.
import { createServer } from 'node:http';
import { request } from 'undici';

const upstream = process.argv[2];
async function sample(stream) {
  const res = await request(`${upstream}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'floor' },
    body: JSON.stringify({ model: 'floor', max_tokens: 64, stream, messages: [{ role: 'user', content: 'hello' }] }),
  });
  return { headers: { 'content-type': String(res.headers['content-type']) }, body: Buffer.from(await res.body.arrayBuffer()) };
}
const json = await sample(false);
const sse = await sample(true);

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const answer = Buffer.concat(chunks).includes('"stream":true') ? sse : json;
    if (answer === json) res.writeHead(200, { ...answer.headers, 'content-length': answer.body.length });
    else res.writeHead(200, answer.headers);
    res.end(answer.body);
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`));
process.on('SIGINT', () => process.exit(0));
