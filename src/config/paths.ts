import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Where qcc keeps its files. `QCC_HOME` wins over `~/.qcc`; `--config` overrides only the config file. */
export interface QccPaths {
  home: string;
  config: string;
  runtime: string;
  log: string;
  adminToken: string;
  state: string;
  db: string;
  /** The client keys' pepper (keys/secret.ts): kept apart from the config that holds their hashes. */
  keyPepper: string;
}

export function resolvePaths(env: NodeJS.ProcessEnv = process.env, configOverride?: string): QccPaths {
  const home = resolve(env.QCC_HOME && env.QCC_HOME.length > 0 ? env.QCC_HOME : join(homedir(), '.qcc'));
  return {
    home,
    config: configOverride ? resolve(configOverride) : join(home, 'config.json'),
    runtime: join(home, 'proxy.json'),
    log: join(home, 'proxy.log'),
    adminToken: join(home, 'admin-token'),
    state: join(home, 'state.json'),
    db: join(home, 'qcc.db'),
    keyPepper: join(home, 'client-key-pepper'),
  };
}
