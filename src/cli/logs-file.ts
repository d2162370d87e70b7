import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';

/**
 * `qcc proxy logs`: the proxy's log file, JSON lines turned into one readable line each (or left as JSON).
 * Follows by polling the file size, which survives the file being appended to by another process.
 */

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

export function humanLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line; // not ours (a crash trace, say): show it as it is
  }
  const rest = Object.entries(entry)
    .filter(([k, v]) => !SKIP.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const level = LEVELS[entry.level as number] ?? String(entry.level);
  return `${String(entry.time ?? '')} ${level.padEnd(5)} ${String(entry.msg ?? '')}${rest ? `  ${rest}` : ''}`;
}

export function readFrom(file: string, offset: number): { text: string; size: number } {
  const size = statSync(file).size;
  if (size <= offset) return { text: '', size };
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    return { text: buf.toString('utf8'), size };
  } finally {
    closeSync(fd);
  }
}

/**
 * Why a background start failed, from what it wrote to the log since `offset` (this start's lines only): the CLI's
 * own error line (`qcc: …`) first, in one line, then this start's other lines, readable.
 */
export function startFailure(file: string, offset: number, exitCode: number | null): string {
  const lines = existsSync(file) ? readFrom(file, offset).text.split('\n').filter((l) => l.trim() !== '') : [];
  // The CLI's message and its continuation lines (the fix, on the next line), up to the next log entry.
  const at = lines.findIndex((l) => l.startsWith('qcc: '));
  let end = at + 1;
  while (at >= 0 && end < lines.length && !lines[end]!.startsWith('{')) end++;
  const own = at >= 0 ? lines.slice(at, end).join(' ').slice('qcc: '.length) : undefined;
  const others = (at >= 0 ? [...lines.slice(0, at), ...lines.slice(end)] : lines).map(humanLine);
  const reason = own ?? others.findLast((l) => /\b(ERROR|FATAL)\b/.test(l)) ?? `it exited with code ${exitCode}`;
  const shown = others.slice(-10);
  return `the proxy did not start: ${reason}${shown.length > 0 ? `\n\nits log from this start (${file}):\n${shown.join('\n')}` : ''}`;
}

export async function showLogs(file: string, opts: { lines: number; follow: boolean; json: boolean }, write = (s: string) => process.stdout.write(s)): Promise<void> {
  if (!existsSync(file)) {
    write(`no log file yet at ${file} (a proxy started in the background writes it)\n`);
    if (!opts.follow) return;
  }
  const format = (l: string) => (opts.json ? l : humanLine(l));
  let offset = 0;
  if (existsSync(file)) {
    const { text, size } = readFrom(file, 0);
    const lines = text.split('\n').filter(Boolean);
    for (const l of lines.slice(-opts.lines)) write(`${format(l)}\n`);
    offset = size;
  }
  let partial = '';
  while (opts.follow) {
    await new Promise((r) => setTimeout(r, 300));
    if (!existsSync(file)) continue;
    const { text, size } = readFrom(file, offset);
    if (size < offset) offset = 0; // truncated or replaced
    else offset = size;
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines.filter(Boolean)) write(`${format(l)}\n`);
  }
}
