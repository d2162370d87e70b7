import type { Config, EndpointConfig } from './schema.js';
import { exportedProxy, keepProxySecret } from './proxy-secrets.js';

/**
 * Export and import of configurations. An export is a valid config file with one extra top-level field,
 * `_qcc_export`, saying when it was made and whether keys were left out. Imports take qcc's format, the legacy
 * single-endpoint one (via migration) and exports; they merge by endpoint id and never drop a key the
 * current config has when the imported endpoint has none.
 */

export const EXPORT_MARKER = '_qcc_export';

export interface ExportMeta {
  exported_at: string;
  secrets: 'included' | 'omitted';
}

export function exportConfig(config: Config, withSecrets: boolean, now = new Date()): Record<string, unknown> {
  const meta: ExportMeta = { exported_at: now.toISOString(), secrets: withSecrets ? 'included' : 'omitted' };
  if (withSecrets) return { [EXPORT_MARKER]: meta, ...config };
  // Client keys' hashes go too: they identify people's keys, and are of no use without this machine's pepper.
  const { client_keys: _clientKeys, ...shared } = config;
  return {
    [EXPORT_MARKER]: meta,
    ...shared,
    proxy: { ...config.proxy, access_keys: [], ...withProxy('upstream_proxy', exportedProxy(config.proxy.upstream_proxy)) },
    endpoints: config.endpoints.map(({ api_key: _k, api_keys: _ks, ...rest }) => ({ ...rest, ...withProxy('proxy', exportedProxy(rest.proxy)) })),
  };
}

/** `{ [field]: value }`, or nothing when the value is unset (so no `undefined` field appears in JSON). */
function withProxy<K extends string>(field: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [field]: value } as Record<K, string>);
}

/** Remove the export marker so the rest validates as a plain config; returns what it said. */
export function stripExportMarker(value: unknown): { value: unknown; meta: ExportMeta | undefined } {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !(EXPORT_MARKER in value)) return { value, meta: undefined };
  const { [EXPORT_MARKER]: meta, ...rest } = value as Record<string, unknown>;
  return { value: rest, meta: meta as ExportMeta };
}

export type ImportMode = 'merge' | 'replace';

export interface ImportPlan {
  result: Config;
  added: string[];
  updated: string[];
  removed: string[];
  unchanged: string[];
  /** Endpoints that kept their existing keys because the import had none for them. */
  keptKeys: string[];
  /** Endpoints that end up with no key at all (they will pass client credentials through). */
  keyless: string[];
  proxyChanged: boolean;
}

/** JSON with object keys sorted, so two configs that differ only in key order compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

function hasKey(e: EndpointConfig): boolean {
  return e.api_key !== undefined || e.api_keys !== undefined;
}

/**
 * `present` lists what the imported file actually said (top-level sections and `proxy` fields): in merge mode
 * anything it did not mention keeps its current value instead of falling back to a default.
 */
export function planImport(
  current: Config,
  incoming: Config,
  mode: ImportMode,
  importHadSecrets: boolean,
  present: { sections: readonly string[]; proxyFields: readonly string[] },
): ImportPlan {
  const currentById = new Map(current.endpoints.map((e) => [e.id, e]));
  const plan: ImportPlan = { result: current, added: [], updated: [], removed: [], unchanged: [], keptKeys: [], keyless: [], proxyChanged: false };
  const merged: EndpointConfig[] = mode === 'merge' ? [...current.endpoints] : [];
  for (const imported of incoming.endpoints) {
    const existing = currentById.get(imported.id);
    let next = imported;
    if (existing && !hasKey(imported) && hasKey(existing)) {
      next = { ...imported, ...(existing.api_key !== undefined && { api_key: existing.api_key }), ...(existing.api_keys !== undefined && { api_keys: existing.api_keys }) };
      plan.keptKeys.push(imported.id);
    }
    // The same for a proxy password: an export leaves it out, and importing that keeps the one already here.
    const proxy = keepProxySecret(next.proxy, existing?.proxy);
    if (proxy !== next.proxy) next = { ...next, proxy };
    if (!existing) plan.added.push(imported.id);
    else if (canonical(existing) === canonical(next)) plan.unchanged.push(imported.id);
    else plan.updated.push(imported.id);
    const i = merged.findIndex((e) => e.id === imported.id);
    if (i >= 0) merged[i] = next;
    else merged.push(next);
    if (!hasKey(next)) plan.keyless.push(imported.id);
  }
  if (mode === 'replace') for (const e of current.endpoints) if (!incoming.endpoints.some((x) => x.id === e.id)) plan.removed.push(e.id);
  // Access keys follow the same rule as endpoint keys: an export without secrets never wipes them.
  const accessKeys = !importHadSecrets && incoming.proxy.access_keys.length === 0 ? current.proxy.access_keys : incoming.proxy.access_keys;
  const baseProxy =
    mode === 'merge'
      ? { ...current.proxy, ...Object.fromEntries(present.proxyFields.map((f) => [f, incoming.proxy[f as keyof Config['proxy']]])) }
      : incoming.proxy;
  const proxy = { ...baseProxy, access_keys: accessKeys, ...withProxy('upstream_proxy', keepProxySecret(baseProxy.upstream_proxy, current.proxy.upstream_proxy)) };
  plan.proxyChanged = canonical(proxy) !== canonical(current.proxy);
  const section = <K extends 'stats' | 'health' | 'pricing'>(k: K): Config[K] => (mode === 'merge' && !present.sections.includes(k) ? current[k] : incoming[k]);
  // Client keys likewise: an import that has none (an export without secrets) keeps the ones here.
  const clientKeys = incoming.client_keys.length > 0 ? incoming.client_keys : current.client_keys;
  plan.result = { ...current, version: 1, proxy, endpoints: merged, stats: section('stats'), health: section('health'), pricing: section('pricing'), client_keys: clientKeys };
  return plan;
}
