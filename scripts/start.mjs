// `npm start`: build if any source changed since the last build (dist/.built, written by scripts/build-web.mjs),
// then run the proxy in the foreground, with simulated endpoints when none is configured. `npm install` has just
// built (its `prepare`), so the README's first command builds once.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const stamp = join(root, 'dist/.built');

/** The newest modification time under `path` (a file or a directory), in ms. */
function newest(path) {
  if (!existsSync(path)) return 0;
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return readdirSync(path).reduce((m, f) => Math.max(m, newest(join(path, f))), s.mtimeMs);
}

const inputs = ['src', 'scripts', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'tsconfig.web.json'].map((p) => join(root, p));
const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
if (inputs.some((p) => newest(p) > built)) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const b = spawnSync(npm, ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
// The proxy runs with the Node flag it ships with (src/cli/node-flags.ts). Ctrl-C reaches it directly (same
// process group); a signal sent to this process alone is passed on; its exit status is ours.
const proxy = spawn(process.execPath, ['--initial-old-space-size=64', join(root, 'dist/cli/main.js'), 'proxy', 'start', '--foreground', '--demo', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => proxy.kill(signal));
proxy.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
