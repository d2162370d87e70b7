import type { Usage } from '../protocols/messages/sse.js';
import type { Config } from '../config/schema.js';

/**
 * Estimated cost from a pricing table, US dollars per million tokens. Built-in defaults cover the current
 * Claude families; `pricing` in the config overrides or extends them. A model is priced by the longest key
 * that is a prefix of its name, then by family (opus, sonnet, haiku); an unknown model costs nothing rather
 * than a guess.
 */
export interface Price {
  input: number;
  output: number;
  /** Prompt-cache writes; Anthropic bills them at 1.25 × input. */
  cache_write?: number | undefined;
  /** Prompt-cache reads; 0.1 × input. */
  cache_read?: number | undefined;
}

export const DEFAULT_PRICES: Record<string, Price> = {
  opus: { input: 5, output: 25 },
  sonnet: { input: 3, output: 15 },
  haiku: { input: 1, output: 5 },
  'claude-3-opus': { input: 15, output: 75 },
  'claude-opus-4-0': { input: 15, output: 75 },
  'claude-opus-4-1': { input: 15, output: 75 },
  'claude-3-5-haiku': { input: 0.8, output: 4 },
  'claude-3-haiku': { input: 0.25, output: 1.25 },
};

const FAMILIES = ['opus', 'sonnet', 'haiku'];
const MEMO_LIMIT = 1_000;

export class PriceTable {
  private readonly prices: [string, Price][];
  private readonly memo = new Map<string, Price | undefined>();

  /**
   * @param factors per endpoint id, a multiplier on its list prices (`price_factor`): a cloud's regional
   *   endpoints bill some models above the global price, a reseller bills its own margin.
   */
  constructor(
    overrides: Record<string, Price> = {},
    private readonly factors: ReadonlyMap<string, number> = new Map(),
  ) {
    const merged = { ...DEFAULT_PRICES, ...overrides };
    // Longest prefix first, so "claude-opus-4-1" beats "claude-opus".
    this.prices = Object.entries(merged).sort((a, b) => b[0].length - a[0].length);
  }

  /** The price table of a config: its `pricing` overrides and its endpoints' price factors. */
  static forConfig(config: Pick<Config, 'pricing' | 'endpoints'>): PriceTable {
    const factors = new Map(config.endpoints.flatMap((e) => (e.price_factor === undefined ? [] : [[e.id, e.price_factor] as const])));
    return new PriceTable(config.pricing, factors);
  }

  /**
   * Runs for every request (metrics and the request log both price it), so each model's answer is remembered;
   * model names come from clients, so the memory is bounded.
   */
  priceOf(model: string | undefined): Price | undefined {
    if (!model) return undefined;
    if (this.memo.has(model)) return this.memo.get(model);
    const price = this.lookup(model);
    if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
    this.memo.set(model, price);
    return price;
  }

  private lookup(model: string): Price | undefined {
    for (const [key, price] of this.prices) if (!FAMILIES.includes(key) && model.startsWith(key)) return price;
    const family = FAMILIES.find((f) => model.includes(f));
    return family ? this.prices.find(([k]) => k === family)?.[1] : undefined;
  }

  /** What a request cost: the model's price for its usage, times the serving endpoint's price factor. */
  requestCost(r: { model?: string | undefined; usage?: Usage | undefined; endpointId?: string | undefined; simulated?: boolean | undefined }): number {
    if (r.simulated === true) return 0;
    const cost = this.cost(r.model, r.usage);
    const factor = r.endpointId === undefined ? undefined : this.factors.get(r.endpointId);
    return factor === undefined || cost === 0 ? cost : cost * factor;
  }

  cost(model: string | undefined, usage: Usage | undefined): number {
    const p = this.priceOf(model);
    if (!p || !usage) return 0;
    const perToken = (perMillion: number) => perMillion / 1_000_000;
    return (
      usage.input_tokens * perToken(p.input) +
      usage.output_tokens * perToken(p.output) +
      usage.cache_creation_input_tokens * perToken(p.cache_write ?? p.input * 1.25) +
      usage.cache_read_input_tokens * perToken(p.cache_read ?? p.input * 0.1)
    );
  }
}
