// Starts the project's simulated upstreams in their own process, so their CPU is never counted as the proxy's.
// argv[2]: JSON array of { name, behavior, bedrock?, vertex? } (the last two: simulated clouds, see src/sim/clouds.ts). Prints one JSON line { name: url, ... } once all listen.
import { startSimulator } from '../dist/sim/simulator.js';

const specs = JSON.parse(process.argv[2] ?? '[]');
const urls = {};
for (const spec of specs) {
  const sim = await startSimulator({ name: spec.name, behavior: spec.behavior ?? {}, record: false, bedrock: spec.bedrock, vertex: spec.vertex });
  urls[spec.name] = sim.url;
}
process.stdout.write(`${JSON.stringify(urls)}\n`);
process.on('SIGTERM', () => process.exit(0));
