import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RotatingLogFile, rotateIfFull, rotateLogFiles } from '../../src/cli/log-file.js';
import { eventually } from '../helpers/servers.js';

const dir = () => mkdtempSync(join(tmpdir(), 'qcc-logfile-'));

describe('the background log, kept to a size', () => {
  it('rotates past the cap, keeps the newest files, and loses no line', async () => {
    const file = join(dir(), 'proxy.log');
    const log = new RotatingLogFile(file, 1000, 2);
    const line = (i: number) => `${JSON.stringify({ level: 30, msg: `line ${i}`, pad: 'x'.repeat(80) })}\n`;
    for (let i = 0; i < 40; i++) {
      log.write(line(i));
      // Let the asynchronous writer open the new file between bursts, as a proxy's log lines come.
      if (i % 5 === 4) await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise<void>((resolve, reject) => log.flush((e) => (e ? reject(e) : resolve())));
    await eventually(() => existsSync(`${file}.2`));
    expect(existsSync(`${file}.3`)).toBe(false); // keep = 2
    for (const f of [file, `${file}.1`, `${file}.2`]) expect(statSync(f).size).toBeLessThan(1000 + 200);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // The newest lines are in proxy.log, in order, whole.
    const current = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(current.at(-1)).toBe('line 39');
    const previous = readFileSync(`${file}.1`, 'utf8').trimEnd().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(Number(previous.at(-1)!.split(' ')[1]) + 1).toBe(Number(current[0]!.split(' ')[1]));
  });

  it('rotateLogFiles shifts the numbered files and drops the oldest; rotateIfFull only when full', () => {
    const d = dir();
    const file = join(d, 'proxy.log');
    for (const [name, text] of [['proxy.log', 'now'], ['proxy.log.1', 'one'], ['proxy.log.2', 'two'], ['proxy.log.3', 'three']] as const) writeFileSync(join(d, name), text);
    rotateLogFiles(file, 3);
    expect(existsSync(file)).toBe(false);
    expect(['proxy.log.1', 'proxy.log.2', 'proxy.log.3'].map((n) => readFileSync(join(d, n), 'utf8'))).toEqual(['now', 'one', 'two']);
    writeFileSync(file, 'small');
    rotateIfFull(file, 1000, 3);
    expect(readFileSync(file, 'utf8')).toBe('small');
    writeFileSync(file, 'x'.repeat(1000));
    rotateIfFull(file, 1000, 3);
    expect(existsSync(file)).toBe(false);
    expect(readFileSync(join(d, 'proxy.log.1'), 'utf8')).toHaveLength(1000);
  });
});
