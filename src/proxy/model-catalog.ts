import type { EndpointRuntime } from '../endpoints/endpoint.js';
import { isPattern } from '../config/model-patterns.js';
import type { Upstream } from '../upstream/client.js';
import { requestResponse } from '../upstream/request.js';
import { upstreamPath } from '../endpoints/upstream-url.js';

/**
 * `GET /v1/models`, answered by qcc itself: the models its enabled endpoints serve, as one list. Claude Code
 * (2.1.129+, CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1) asks with a 3 s timeout; one slow endpoint must not
 * cost it the answer, so endpoints' own lists are fetched in the background, cached, and the answer never
 * waits longer than ANSWER_WAIT_MS for them.
 *
 * Per endpoint: the names it is configured for (`models`, and the Claude names its `model_map` accepts); an
 * Anthropic endpoint with a key of its own and no `models` list (it serves anything) adds what it lists itself.
 */

export interface CatalogModel {
  type: 'model';
  id: string;
  display_name: string;
  created_at: string;
}

export interface ModelsPage {
  data: CatalogModel[];
  has_more: boolean;
  first_id: string | null;
  last_id: string | null;
}

const LISTING_TTL_MS = 10 * 60_000;
const FETCH_TIMEOUT_MS = 2_500;
const ANSWER_WAIT_MS = 1_500;
const EPOCH = '1970-01-01T00:00:00Z';
/** The largest list an endpoint's answer may be (bytes): it is untrusted input like any other. */
const MAX_LISTING_BYTES = 1024 * 1024;

interface Listing {
  models: CatalogModel[];
  at: number;
}

export class ModelCatalog {
  private readonly listings = new Map<string, Listing>();
  private readonly fetching = new Map<string, Promise<void>>();

  constructor(
    private readonly deps: { dispatcher: Upstream; endpoints: () => readonly EndpointRuntime[]; now: () => number },
  ) {}

  /** The page for `limit` and `after_id`; undefined when nothing is known (the request then passes through). */
  async page(query: URLSearchParams): Promise<ModelsPage | undefined> {
    const endpoints = this.deps.endpoints().filter((e) => e.config.enabled);
    const pending = endpoints.filter((e) => this.listsItself(e) && this.stale(e)).map((e) => this.refresh(e));
    // Wait for fresh lists only while nothing is known of an endpoint; a known list answers now, refreshed after.
    const unknown = endpoints.some((e) => this.listsItself(e) && !this.listings.has(e.id));
    if (unknown && pending.length > 0) await Promise.race([Promise.allSettled(pending), new Promise((r) => setTimeout(r, ANSWER_WAIT_MS).unref())]);
    const byId = new Map<string, CatalogModel>();
    for (const e of endpoints) {
      for (const id of [...e.config.models, ...Object.keys(e.config.model_map)]) if (!isPattern(id) && !byId.has(id)) byId.set(id, { type: 'model', id, display_name: id, created_at: EPOCH });
      for (const m of this.listings.get(e.id)?.models ?? []) if (!byId.has(m.id) || byId.get(m.id)!.created_at === EPOCH) byId.set(m.id, m);
    }
    if (byId.size === 0) return undefined;
    const all = [...byId.values()].sort((a, b) => b.created_at.localeCompare(a.created_at) || a.id.localeCompare(b.id));
    const after = query.get('after_id');
    const start = after === null ? 0 : all.findIndex((m) => m.id === after) + 1;
    const limit = Math.min(1000, Math.max(1, Number(query.get('limit') ?? 20) || 20));
    const data = all.slice(start, start + limit);
    return { data, has_more: start + limit < all.length, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
  }

  /** An Anthropic endpoint that serves any model and can be asked with its own key. */
  private listsItself(e: EndpointRuntime): boolean {
    return e.config.protocol === 'anthropic' && e.config.models.length === 0 && !e.keys.passThrough;
  }

  private stale(e: EndpointRuntime): boolean {
    const l = this.listings.get(e.id);
    return l === undefined || this.deps.now() - l.at > LISTING_TTL_MS;
  }

  private refresh(e: EndpointRuntime): Promise<void> {
    const running = this.fetching.get(e.id);
    if (running) return running;
    const done = this.fetch(e)
      .then((models) => void this.listings.set(e.id, { models, at: this.deps.now() }))
      // An endpoint that cannot list is remembered as listing nothing, until the next refresh.
      .catch(() => void this.listings.set(e.id, { models: [], at: this.deps.now() }))
      .finally(() => this.fetching.delete(e.id));
    this.fetching.set(e.id, done);
    return done;
  }

  private async fetch(e: EndpointRuntime): Promise<CatalogModel[]> {
    const key = e.keys.pick(this.deps.now());
    if (key === undefined) return [];
    const headers: Record<string, string> = { 'anthropic-version': '2023-06-01' };
    if (e.config.auth_mode !== 'bearer') headers['x-api-key'] = key.key;
    if (e.config.auth_mode !== 'x-api-key') headers.authorization = `Bearer ${key.key}`;
    const res = await requestResponse(
      this.deps.dispatcher,
      { origin: e.target.origin, route: e.route, path: upstreamPath(e.target, '/v1/models?limit=1000'), method: 'GET', headers, body: null, headersTimeout: FETCH_TIMEOUT_MS, bodyTimeout: FETCH_TIMEOUT_MS },
      AbortSignal.timeout(FETCH_TIMEOUT_MS),
    );
    if (res.statusCode !== 200) {
      res.body.resume();
      return [];
    }
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_LISTING_BYTES) {
        res.body.destroy();
        return [];
      }
      chunks.push(chunk as Buffer);
    }
    const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data?: unknown };
    if (!Array.isArray(parsed.data)) return [];
    const models: CatalogModel[] = [];
    for (const m of parsed.data as { id?: unknown; display_name?: unknown; created_at?: unknown }[]) {
      if (typeof m?.id !== 'string' || m.id === '' || m.id.length > 200) continue;
      models.push({
        type: 'model',
        id: m.id,
        display_name: typeof m.display_name === 'string' ? m.display_name.slice(0, 200) : m.id,
        created_at: typeof m.created_at === 'string' && !Number.isNaN(Date.parse(m.created_at)) ? m.created_at : EPOCH,
      });
    }
    return models;
  }
}
