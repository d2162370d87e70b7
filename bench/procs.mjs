// Process helpers for the benchmark: spawn and wait for a ready line, read CPU time and RSS from /proc.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // getconf CLK_TCK on Linux

/**
 * CPU time a process has used, in microseconds: the time the scheduler ran each of its threads
 * (`/proc/PID/task/TID/schedstat`, nanoseconds), user and kernel alike. `/proc/PID/stat`'s utime + stime count
 * 10 ms ticks, which over a round of 4,000 requests is a step of 2.5 µs per request; it is the fallback where
 * schedstat is missing. (Threads that ended take their time with them; Node's live as long as the process.)
 */
export function cpuMicros(pid) {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    if (ns > 0) return ns / 1000;
  } catch {
    // a thread that ended between listing and reading, or no schedstat: count ticks instead
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1e6;
}

export function cpuMicrosAll(pids) {
  return pids.reduce((sum, pid) => sum + cpuMicros(pid), 0);
}

/** Resident set size in bytes. */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
}

/** Spawn a process and resolve with it and the first output line matching `ready`. */
export function spawnReady(cmd, args, ready, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    const onData = (c) => {
      out += c.toString();
      const m = out.match(ready);
      if (m) {
        child.stdout.off('data', onData);
        child.stderr.off('data', onData);
        resolve({ child, match: m });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${cmd} exited (${code}) before ready: ${out.slice(-2000)}`)));
    setTimeout(() => reject(new Error(`${cmd} not ready: ${out.slice(-2000)}`)), 20_000).unref();
  });
}

export function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
