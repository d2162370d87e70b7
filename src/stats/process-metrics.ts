import { constants, performance, PerformanceObserver } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { Counter } from 'prom-client';
// prom-client's own collectors of its default metrics, one module each, so that qcc can take all but the event
// loop lag (see below). Every one of them reads its figures when scraped and holds no timer.
import heapSizeAndUsed from 'prom-client/lib/metrics/heapSizeAndUsed.js';
import heapSpacesSizeAndUsed from 'prom-client/lib/metrics/heapSpacesSizeAndUsed.js';
import osMemoryHeap from 'prom-client/lib/metrics/osMemoryHeap.js';
import processMaxFileDescriptors from 'prom-client/lib/metrics/processMaxFileDescriptors.js';
import processOpenFileDescriptors from 'prom-client/lib/metrics/processOpenFileDescriptors.js';
import processStartTime from 'prom-client/lib/metrics/processStartTime.js';
import version from 'prom-client/lib/metrics/version.js';
import { TallyHistogram, type BucketSeries } from './tally.js';

/**
 * The process's own series, under the names prom-client gives them (`process_cpu_seconds_total`,
 * `process_resident_memory_bytes`, `nodejs_heap_size_used_bytes`, `nodejs_gc_duration_seconds`, …), so that the
 * usual Node.js dashboards read qcc as they read any Node service.
 *
 * Two differ from prom-client's `collectDefaultMetrics`:
 * - no `nodejs_eventloop_lag_*`: prom-client measures it with a timer firing every 10 ms, which would wake an idle
 *   proxy a hundred times a second for as long as it runs (it runs all day on a laptop). In its place,
 *   `qcc_event_loop_busy_seconds_total`, read from libuv's own idle-time accounting when scraped: its rate is the
 *   share of time the loop was running callbacks, 1 when saturated.
 * - the GC histogram is fed by one observer for the whole process (collections are the process's, not one app's),
 *   not one per registry that nothing could ever disconnect.
 */
export function registerProcessMetrics(registry: Registry): void {
  for (const collector of [processStartTime, osMemoryHeap, processOpenFileDescriptors, processMaxFileDescriptors, heapSizeAndUsed, heapSpacesSizeAndUsed, version]) {
    collector(registry, {});
  }
  // prom-client's CPU counters count from the moment they are registered; these count from the process's start,
  // as Prometheus means `process_cpu_seconds_total`. One reading per scrape serves all three (the first to be
  // collected takes it), so that the total is exactly user plus system.
  let usage: NodeJS.CpuUsage = process.cpuUsage();
  const cpu = (name: string, help: string, read: (u: NodeJS.CpuUsage) => number, takesReading = false) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        if (takesReading) usage = process.cpuUsage();
        this.reset();
        this.inc(read(usage) / 1e6);
      },
    });
  cpu('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', (u) => u.user, true);
  cpu('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.', (u) => u.system);
  cpu('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', (u) => u.user + u.system);
  new Counter({
    name: 'qcc_event_loop_busy_seconds_total',
    help: 'Time the event loop spent running callbacks rather than waiting for I/O; its rate is the loop utilization (1 = saturated)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(performance.eventLoopUtilization().active / 1000);
    },
  });
}

const GC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

let gcHistogram: TallyHistogram<'kind'> | undefined;

/**
 * `nodejs_gc_duration_seconds` by kind, as prom-client names it (its buckets start lower: a scavenge here takes
 * 0.3–1 ms). The observer starts with the first caller and lasts as long as the process.
 */
export function gcDurations(): TallyHistogram<'kind'> {
  if (gcHistogram) return gcHistogram;
  const histogram = new TallyHistogram('nodejs_gc_duration_seconds', 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.', ['kind'], GC_BUCKETS);
  const byKind = new Map<number, BucketSeries>();
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      // A GC entry's `detail` is `{ kind, flags }` (Node ≥ 16); the type of PerformanceEntry does not say so.
      const kind = (entry as { detail?: { kind?: number } | null }).detail?.kind ?? -1;
      let series = byKind.get(kind);
      if (!series) byKind.set(kind, (series = histogram.buckets({ kind: GC_KINDS[kind] ?? 'other' })));
      series.observe(entry.duration / 1000);
    }
  }).observe({ entryTypes: ['gc'] });
  gcHistogram = histogram;
  return histogram;
}
