import type { Config } from '../config/schema.js';
import { ClientKeyRegistry } from './registry.js';
import { loadPepper } from './secret.js';

/**
 * The running proxy's view of its client keys: the registry of the config in force, and the pepper, read when
 * first needed (`qcc key add` may make the file while the proxy runs) and made on demand for the dashboard.
 */
export class Keyring {
  private pepper: Buffer | undefined;
  registry: ClientKeyRegistry;

  constructor(
    config: Config,
    private readonly source: { pepper?: Buffer | undefined; pepperFile?: string | undefined },
    private readonly onError: (e: unknown) => void,
  ) {
    this.pepper = source.pepper;
    this.registry = this.registryFor(config);
  }

  /** A new config: a new registry (revoked and rotated keys leave with the old one). */
  reload(config: Config): void {
    this.registry = this.registryFor(config);
  }

  /** The pepper for a new key's hash, made if there is none yet. */
  pepperForNewKey(): Buffer {
    const p = this.load(true);
    if (p === undefined) throw new Error('no key pepper: this proxy was started without a pepper file or QCC_KEY_PEPPER');
    return p;
  }

  private load(create: boolean): Buffer | undefined {
    if (this.pepper === undefined && this.source.pepperFile !== undefined) this.pepper = loadPepper(this.source.pepperFile, process.env, { create });
    return this.pepper;
  }

  private registryFor(c: Config): ClientKeyRegistry {
    try {
      return new ClientKeyRegistry(c.client_keys, c.proxy.access_keys, c.client_keys.length > 0 ? this.load(false) : this.pepper);
    } catch (e: unknown) {
      // An unreadable pepper: every client key is refused (with that reason), the proxy itself keeps serving.
      this.onError(e);
      return new ClientKeyRegistry(c.client_keys, c.proxy.access_keys, undefined);
    }
  }
}
