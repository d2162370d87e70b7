import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * The real `claude` CLI (the @anthropic-ai/claude-code dev dependency) through the built qcc to the simulator.
 * Offline settings from shared/reference/claude-code.md; retries capped so a broken proxy fails fast.
 */
const CLAUDE = resolve('node_modules/.bin/claude');

export interface ClaudeResult {
  result: string;
  is_error: boolean;
  num_turns: number;
}

export function runClaude(baseUrl: string, auth: Record<string, string>, prompt: string, extraArgs: string[] = [], env: Record<string, string> = {}): Promise<{ code: number | null; json: ClaudeResult; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(CLAUDE, ['-p', prompt, '--output-format', 'json', ...extraArgs], {
      env: {
        PATH: process.env.PATH,
        HOME: mkdtempSync(join(tmpdir(), 'qcc-claude-home-')),
        ANTHROPIC_BASE_URL: baseUrl,
        DISABLE_TELEMETRY: '1',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_AUTOUPDATER: '1',
        CLAUDE_CODE_MAX_RETRIES: '2',
        ...auth,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        resolvePromise({ code, json: JSON.parse(stdout) as ClaudeResult, stderr });
      } catch {
        reject(new Error(`claude printed no JSON (code ${code})\nstdout: ${stdout}\nstderr: ${stderr}`));
      }
    });
  });
}

