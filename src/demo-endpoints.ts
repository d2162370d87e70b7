import type { Config, EndpointConfig } from './config/schema.js';

/**
 * `--demo` with nothing configured: simulated endpoints served while the config file has no endpoint of its own.
 * They live only in the running config, are never written to the file, and give way for good to the first real
 * endpoint, whether it arrives from the dashboard or from the file.
 */
export class DemoEndpoints {
  constructor(private left: EndpointConfig[]) {}

  /**
   * A running config the dashboard changed: what to save of it (never the simulated endpoints). The simulated ones
   * it still holds are the ones to go on serving (one deleted in the dashboard is gone).
   */
  toSave(next: Config): Config {
    if (this.left.length === 0) return next;
    this.left = next.endpoints.filter((e) => e.simulated === true);
    return { ...next, endpoints: next.endpoints.filter((e) => e.simulated !== true) };
  }

  /** What to serve for a config as saved: it, or it with the simulated endpoints while it has none of its own. */
  serve(saved: Config): { config: Config; replaced: boolean } {
    const replaced = this.left.length > 0 && saved.endpoints.length > 0;
    if (replaced) this.left = [];
    return { config: this.left.length > 0 ? { ...saved, endpoints: this.left } : saved, replaced };
  }
}
