// prom-client ships types for its public API only; these are its per-metric collectors of the default metrics
// (lib/metrics/*.js), each `(registry, config) => void`, which `collectDefaultMetrics` calls in turn.
declare module 'prom-client/lib/metrics/*.js' {
  import type { Registry } from 'prom-client';
  const register: (registry: Registry, config: { prefix?: string; labels?: Record<string, string> }) => void;
  export default register;
}
