import { describe, expect, it } from 'vitest';
import { hoistGlobalOptions } from '../../src/cli/global-options.js';

const run = (...args: string[]) => hoistGlobalOptions(['node', 'qcc', ...args]).slice(2);

describe('global options in any position', () => {
  it.each([
    [['endpoint', 'add', 'f4', '--base-url', 'https://x', '-q'], ['-q', 'endpoint', 'add', 'f4', '--base-url', 'https://x']],
    [['endpoint', 'list', '--config', 'x.json'], ['--config', 'x.json', 'endpoint', 'list']],
    [['endpoint', 'list', '--config=x.json', '--json'], ['--config=x.json', 'endpoint', 'list', '--json']],
    [['--quiet', 'proxy', 'stop'], ['--quiet', 'proxy', 'stop']],
    // Claude Code's arguments stay Claude Code's, and nothing after -- moves.
    [['claude', '-p', 'hi', '-q'], ['claude', '-p', 'hi', '-q']],
    [['-q', 'claude', '--', '-q'], ['-q', 'claude', '--', '-q']],
    [['stats', '--', '--config', 'x'], ['stats', '--', '--config', 'x']],
  ])('%j → %j', (args, expected) => {
    expect(run(...args)).toEqual(expected);
  });
});
