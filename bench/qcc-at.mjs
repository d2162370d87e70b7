// Starts a qcc build in this process (so its CPU is this process's): argv[2] a built dist/ directory, argv[3] the
// upstream URL. Two endpoints on that upstream, everything else as shipped. For bench/ab.mjs, which starts this
// script with the Node flags the build ships with (dist/cli/node-flags.js), as `qcc proxy start` would.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';

const [dist, upstream] = process.argv.slice(2);
const flagsModule = join(resolve(dist), 'cli/node-flags.js');
if (existsSync(flagsModule)) {
  const { PROXY_NODE_FLAGS, hasProxyNodeFlags } = await import(pathToFileURL(flagsModule).href);
  // Without them the CLI would start itself again in a child, and this process would measure a launcher.
  if (!hasProxyNodeFlags()) throw new Error(`run this with the build's Node flags: node ${PROXY_NODE_FLAGS.join(' ')} ${process.argv.slice(1).join(' ')}`);
}
const home = mkdtempSync(join(tmpdir(), 'qcc-ab-'));
writeFileSync(join(home, 'config.json'), JSON.stringify({ version: 1, endpoints: [{ id: 'a', base_url: upstream }, { id: 'b', base_url: upstream }] }));
process.env.QCC_HOME = home;
process.argv = [process.argv[0], 'qcc', 'proxy', 'start', '--foreground', '--port', '0', '--log-level', 'warn'];
await import(pathToFileURL(join(resolve(dist), 'cli/main.js')).href);
