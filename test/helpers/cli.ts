import { afterEach } from 'vitest';
import { Harness } from './servers.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const CLI = resolve('dist/cli/main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function tempHome(): string {
  return mkdtempSync(join(tmpdir(), 'qcc-test-'));
}

/** Run the built CLI to completion with QCC_HOME set (and optional stdin). */
export function runCli(home: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, QCC_HOME: home, NO_COLOR: '1', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`qcc ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Start a long-running CLI process and wait for a line matching `ready` on stdout or stderr. */
export function spawnCli(home: string, args: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; match: RegExpMatchArray; output: () => string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, QCC_HOME: home, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const onData = (c: Buffer) => {
      output += c.toString();
      const m = output.match(ready);
      if (m) resolvePromise({ child, match: m, output: () => output });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`exited early (${code}): ${output}`)));
    setTimeout(() => reject(new Error(`not ready in time: ${output}`)), 15_000).unref();
  });
}

export function writeConfig(home: string, value: unknown): string {
  const file = join(home, 'config.json');
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return file;
}

/** Temporary QCC_HOMEs for one test file; `stopAll` stops any proxy a test left running in them. */
export class Homes {
  private dirs: string[] = [];

  make(): string {
    const dir = tempHome();
    this.dirs.push(dir);
    return dir;
  }

  async stopAll(): Promise<void> {
    for (const dir of this.dirs.splice(0)) await runCli(dir, ['proxy', 'stop']);
  }
}

/**
 * The usual set-up of a CLI test file: simulators and temporary homes, and after each test every background
 * proxy stopped and every server closed, whatever the test did.
 */
export function cliTestEnv(): { h: Harness; homes: Homes } {
  const h = new Harness();
  const homes = new Homes();
  afterEach(async () => {
    await homes.stopAll();
    await h.closeAll();
  });
  return { h, homes };
}

/** The environment that runs the real `claude` CLI offline against qcc (shared/reference/claude-code.md). */
export function offlineClaudeEnv(): NodeJS.ProcessEnv {
  return {
    QCC_CLAUDE_BIN: join(process.cwd(), 'node_modules/.bin/claude'),
    HOME: mkdtempSync(join(tmpdir(), 'qcc-claude-home-')),
    DISABLE_TELEMETRY: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    CLAUDE_CODE_MAX_RETRIES: '2',
  };
}
