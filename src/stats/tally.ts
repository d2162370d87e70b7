import { Counter, type Registry } from 'prom-client';

/**
 * Counters and histograms that cost one addition per event and are turned into Prometheus text only when
 * scraped. prom-client validates and hashes the label set on every `inc`/`observe`, even through a cached child,
 * and qcc updates about ten series per request; here a caller keeps the series object it got once and adds to
 * it. Counters are still published through prom-client (a `collect` hook fills them at scrape time), so names,
 * escaping and content type stay its own; histograms are rendered here, since prom-client has no way to load
 * bucket counts that were kept elsewhere.
 */

export interface Tally {
  value: number;
}

type Labels<L extends string> = Record<L, string>;

function seriesKey(values: readonly string[]): string {
  return values.join('\u0000');
}

export class TallyCounter<L extends string> {
  private readonly tallies = new Map<string, { labels: Labels<L>; tally: Tally }>();
  private readonly labelNames: readonly L[];

  constructor(opts: { name: string; help: string; labelNames: readonly L[]; registers: Registry[] }) {
    const tallies = this.tallies;
    new Counter<L>({
      name: opts.name,
      help: opts.help,
      labelNames: opts.labelNames,
      registers: opts.registers,
      collect() {
        this.reset();
        for (const { labels, tally } of tallies.values()) this.inc(labels, tally.value);
      },
    });
    this.labelNames = opts.labelNames;
  }

  /** The running total for one label set; keep it, and add to `value`. */
  tally(labels: Labels<L>): Tally {
    const key = seriesKey(this.labelNames.map((n) => labels[n]));
    let entry = this.tallies.get(key);
    if (!entry) {
      entry = { labels: { ...labels }, tally: { value: 0 } };
      this.tallies.set(key, entry);
    }
    return entry.tally;
  }
}

export interface BucketSeries {
  observe(value: number): void;
}

class Buckets implements BucketSeries {
  /** counts[i] for values ≤ bounds[i]; the last slot is everything above the highest bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: string,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** `"` `\` and newlines escaped, as the text exposition format asks of label values. */
function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export class TallyHistogram<L extends string> {
  private readonly series = new Map<string, Buckets>();

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly L[],
    private readonly bounds: readonly number[],
  ) {}

  /** The buckets for one label set; keep them, and `observe` into them. */
  buckets(labels: Labels<L>): BucketSeries {
    const values = this.labelNames.map((n) => labels[n]);
    const key = seriesKey(values);
    let s = this.series.get(key);
    if (!s) {
      const text = this.labelNames.map((n, i) => `${n}="${escapeLabelValue(values[i]!)}"`).join(',');
      s = new Buckets(text, this.bounds);
      this.series.set(key, s);
    }
    return s;
  }

  /** The Prometheus text for this histogram (cumulative buckets, `_sum`, `_count`). */
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      const sep = s.labels ? ',' : '';
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += s.counts[i]!;
        lines.push(`${this.name}_bucket{${s.labels}${sep}le="${bound}"} ${cumulative}`);
      });
      cumulative += s.counts[this.bounds.length]!;
      lines.push(`${this.name}_bucket{${s.labels}${sep}le="+Inf"} ${cumulative}`);
      const labels = s.labels ? `{${s.labels}}` : '';
      lines.push(`${this.name}_sum${labels} ${s.sum}`, `${this.name}_count${labels} ${s.count}`);
    }
    return lines.join('\n');
  }
}
