import { Gauge, type Registry } from 'prom-client';
import type { AppStatus } from '../shared/api-types.js';

/**
 * Where a replica keeps shared state and its request log, and whether they answer (issue #24): read from status
 * when scraped, so an alert can say "this replica enforces limits alone" or "its request log is buffering".
 */
export function registerStoreMetrics(registry: Registry, stores: () => AppStatus['stores'], replica: string): void {
  const registers = [registry];
  new Gauge({
    name: 'qcc_store_up',
    help: 'Whether a store answers: 1 up, 0 degraded (the replica serves without it); store is state (redis, local) or stats (sqlite, postgres)',
    labelNames: ['store', 'backend', 'replica'],
    registers,
    collect() {
      this.reset();
      const { state, stats } = stores();
      this.set({ store: 'state', backend: state.backend, replica }, state.state === 'degraded' ? 0 : 1);
      if (stats.state !== 'off') this.set({ store: 'stats', backend: stats.backend, replica }, stats.state === 'ok' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'qcc_limits_shared',
    help: "1 when client keys' limits hold across all replicas (Redis answers), 0 when this replica enforces them alone",
    registers,
    collect() {
      this.set(stores().state.limits === 'shared' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'qcc_health_checker',
    help: 'The replica running health checks for all (the lease holder): 1 for it, by name',
    labelNames: ['replica'],
    registers,
    collect() {
      this.reset();
      const holder = stores().state.health_checker;
      if (holder) this.set({ replica: holder }, 1);
    },
  });
  new Gauge({
    name: 'qcc_stats_rows_buffered',
    help: 'Request-log rows waiting to be written (the database slow or away)',
    registers,
    collect() {
      this.set(stores().stats.buffered ?? 0);
    },
  });
  new Gauge({
    name: 'qcc_stats_rows_dropped_total',
    help: 'Request-log rows dropped since start: the buffer was full while the database was away, or the database refused them',
    registers,
    collect() {
      this.set(stores().stats.dropped ?? 0);
    },
  });
}
