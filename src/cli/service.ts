import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { homedir, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { writeFileAtomic } from '../config/atomic-write.js';
import type { QccPaths } from '../config/paths.js';
import { PROXY_NODE_FLAGS } from './node-flags.js';
import { CliError } from './output.js';

/** `qcc service install|uninstall`: start the proxy at login with the platform's own service manager. */

interface ServiceFile {
  path: string;
  content: string;
  enable: string[][];
  disable: string[][];
}

function serviceFile(paths: QccPaths, home = homedir(), os = platform()): ServiceFile {
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const args = [process.execPath, ...PROXY_NODE_FLAGS, main, '--config', paths.config, 'proxy', 'start', '--foreground'];
  if (os === 'linux') {
    const path = join(home, '.config/systemd/user/qcc.service');
    const quote = (a: string) => (/[\s"\\]/.test(a) ? `"${a.replace(/(["\\])/g, '\\$1')}"` : a);
    return {
      path,
      content: `[Unit]
Description=qcc: one local address for Claude Code over many Anthropic endpoints
After=network-online.target

[Service]
Environment=QCC_HOME=${paths.home}
ExecStart=${args.map(quote).join(' ')}
Restart=on-failure
RestartSec=3

[Install]
WantedBy=default.target
`,
      enable: [['systemctl', '--user', 'daemon-reload'], ['systemctl', '--user', 'enable', '--now', 'qcc.service']],
      disable: [['systemctl', '--user', 'disable', '--now', 'qcc.service'], ['systemctl', '--user', 'daemon-reload']],
    };
  }
  if (os === 'darwin') {
    const path = join(home, 'Library/LaunchAgents/dev.qcc.proxy.plist');
    const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    return {
      path,
      content: `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>dev.qcc.proxy</string>
  <key>ProgramArguments</key>
  <array>
${args.map((a) => `    <string>${xml(a)}</string>`).join('\n')}
  </array>
  <key>EnvironmentVariables</key><dict><key>QCC_HOME</key><string>${xml(paths.home)}</string></dict>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
  <key>StandardOutPath</key><string>${xml(paths.log)}</string>
  <key>StandardErrorPath</key><string>${xml(paths.log)}</string>
</dict>
</plist>
`,
      enable: [['launchctl', 'load', '-w', path]],
      disable: [['launchctl', 'unload', '-w', path]],
    };
  }
  throw new CliError(`no service manager support on ${os}; run \`qcc proxy start\` from your login scripts instead`);
}

/** Run the manager's commands in order; the first that fails is described (what, and why), else undefined. */
function runAll(commands: string[][]): string | undefined {
  for (const [cmd, ...args] of commands) {
    const r = spawnSync(cmd!, args, { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      const why = r.error ? r.error.message : (r.stderr.trim().split('\n').at(-1) ?? `exit status ${r.status}`);
      process.stderr.write(r.stderr ?? '');
      return `\`${[cmd, ...args].join(' ')}\` failed (${why})`;
    }
  }
  return undefined;
}

const NO_USER_MANAGER_HINT =
  'a systemd user manager needs a login session (over SSH or in a container, `loginctl enable-linger $USER` as root, then log in again)';

export function registerServiceCommands(program: Command, paths: () => QccPaths): void {
  const service = program
    .command('service')
    .description('start the proxy at login (systemd user unit on Linux, launchd agent on macOS)')
    .addHelpText('after', '\nExamples:\n  qcc service install --dry-run     # show the unit and the commands, change nothing\n  qcc service install\n  qcc service uninstall');
  service
    .command('install')
    .description('write the unit/agent and enable it')
    .option('--dry-run', 'print the file and the commands, change nothing')
    .option('--no-enable', 'write the file but do not enable or start it')
    .action((opts: { dryRun?: boolean; enable: boolean }) => {
      const s = serviceFile(paths());
      const commands = s.enable.map((c) => `  ${c.join(' ')}`).join('\n');
      if (opts.dryRun) {
        const then = opts.enable ? `then run:\n${commands}\n` : '(not enabled: --no-enable; to start it at login later, run:)\n' + `${commands}\n`;
        process.stdout.write(`would write ${s.path}:\n\n${s.content}\n${then}`);
        return;
      }
      mkdirSync(dirname(s.path), { recursive: true });
      writeFileAtomic(s.path, s.content, 0o644);
      process.stdout.write(`wrote ${s.path}\n`);
      if (!opts.enable) return void process.stdout.write(`not enabled (--no-enable); to start it at login, run:\n${commands}\n`);
      const failed = runAll(s.enable);
      if (failed !== undefined) {
        // The unit is written but nothing will start it: that is not a success.
        const hint = s.enable[0]![0] === 'systemctl' ? `; ${NO_USER_MANAGER_HINT}` : '';
        throw new CliError(`wrote ${s.path}, but could not enable it: ${failed}${hint}. Then run:\n${commands}`);
      }
      process.stdout.write('enabled: the proxy starts at login (and now)\n');
    });
  service
    .command('uninstall')
    .description('disable and remove the unit/agent')
    .action(() => {
      const s = serviceFile(paths());
      if (!existsSync(s.path)) return void process.stdout.write(`nothing to remove: ${s.path} does not exist\n`);
      const failed = runAll(s.disable);
      rmSync(s.path, { force: true });
      process.stdout.write(`removed ${s.path}\n`);
      if (failed !== undefined) process.stderr.write(`note: ${failed}; if the service was running, stop it with \`qcc proxy stop\`\n`);
    });
}
