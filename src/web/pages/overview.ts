import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { LineChart } from '../chart.js';
import { fmtMs, fmtPct, fmtUsd, html } from '../html.js';
import type { Bucket, Status } from '../types.js';

type Range = '1h' | '24h' | '7d';

export function Overview({ status, tick }: { status: Status | undefined; tick: number }) {
  const [range, setRange] = useState<Range>('1h');
  const [buckets, setBuckets] = useState<Bucket[]>([]);
  const [error, setError] = useState<string>();
  useEffect(() => {
    api<{ buckets: Bucket[] }>(`/api/stats?range=${range}`)
      .then((s) => {
        setBuckets(s.buckets);
        setError(undefined);
      })
      .catch((e: Error) => setError(e.message));
  }, [range, Math.floor(tick / 3)]);

  const total = buckets.reduce((n, b) => n + b.requests, 0);
  const recent = buckets.slice(-5).filter((b) => b.requests > 0);
  const last = recent.at(-1);
  const okShare = total ? buckets.reduce((n, b) => n + (b.success_rate ?? 0) * b.requests, 0) / total : null;
  const series = (pick: (b: Bucket) => number | null) => buckets.map(pick);
  const times = buckets.map((b) => b.t);
  const hedges = buckets.reduce((n, b) => n + b.hedges, 0);
  const hedgesWon = buckets.reduce((n, b) => n + b.hedges_won, 0);
  const hedgeSaved = buckets.reduce((n, b) => n + b.hedge_saved_ms, 0);
  const hedgeTokens = buckets.reduce((n, b) => n + b.hedge_loser_tokens, 0);
  return html`<section>
    <div class="toolbar">
      ${(['1h', '24h', '7d'] as Range[]).map((r) => html`<button class=${r === range ? 'primary' : ''} onClick=${() => setRange(r)}>last ${r}</button>`)}
      ${error && html`<span class="error">${error}</span>`}
    </div>
    <div class="cards">
      <div class="card"><div class="v">${total}</div><div class="k">requests (${range})</div></div>
      <div class="card"><div class="v">${last ? last.rps.toFixed(2) : '0'}</div><div class="k">requests/s (latest)</div></div>
      <div class="card"><div class="v">${fmtPct(okShare)}</div><div class="k">success rate</div></div>
      <div class="card"><div class="v">${buckets.reduce((n, b) => n + b.failovers, 0)}</div><div class="k">failovers</div></div>
      <div class="card"><div class="v">${fmtMs(last?.p50_ms)} / ${fmtMs(last?.p95_ms)}</div><div class="k">latency p50 / p95</div></div>
      <div class="card"><div class="v">${fmtMs(last?.ttfb_p50_ms)} / ${fmtMs(last?.ttfb_p95_ms)}</div><div class="k">TTFB p50 / p95</div></div>
      <div class="card"><div class="v">${fmtMs(last?.first_content_p50_ms)} / ${fmtMs(last?.first_content_p95_ms)}</div><div class="k">first content p50 / p95</div></div>
      <div class="card" data-testid="hedges-card" title="Streams with no first content after the hedge delay were also sent to another endpoint; 'won': the hedge answered first">
        <div class="v">${hedges} / ${hedgesWon}</div><div class="k">hedges sent / won</div>
      </div>
      <div class="card" data-testid="hedge-cost-card" title="Time saved: for each hedge that won, how much longer the abandoned attempt had already waited than the winner needed. Tokens: the input tokens the abandoned attempts may have cost.">
        <div class="v">${fmtMs(hedgeSaved)} / ${hedgeTokens.toLocaleString()}</div><div class="k">hedge time saved / abandoned tokens</div>
      </div>
      <div class="card"><div class="v">${buckets.reduce((n, b) => n + b.tokens, 0).toLocaleString()}</div><div class="k">tokens</div></div>
      <div class="card"><div class="v">${fmtUsd(buckets.reduce((n, b) => n + b.cost_usd, 0))}</div><div class="k">estimated cost</div></div>
      <div class="card"><div class="v">${last?.overhead_p50_ms ?? '–'} ms</div><div class="k">qcc overhead p50</div></div>
      <div class="card"><div class="v">${status?.inflight ?? 0}</div><div class="k">in flight now</div></div>
    </div>
    <div class="charts">
      ${LineChart({ times, title: 'Requests/s', series: [{ name: 'rps', color: '#c15f3c', values: series((b) => b.rps) }] })}
      ${LineChart({ times, title: 'Success rate', unit: ' %', series: [{ name: 'latest', color: '#1f8a4c', values: series((b) => (b.success_rate === null ? null : b.success_rate * 100)) }] })}
      ${LineChart({ times, title: 'Latency', unit: ' ms', series: [{ name: 'p50', color: '#3b6fd4', values: series((b) => b.p50_ms) }, { name: 'p95', color: '#9aa9d8', values: series((b) => b.p95_ms) }] })}
      ${LineChart({ times, title: 'Time to first byte', unit: ' ms', series: [{ name: 'p50', color: '#7b4bd4', values: series((b) => b.ttfb_p50_ms) }, { name: 'p95', color: '#bba6e3', values: series((b) => b.ttfb_p95_ms) }] })}
      ${LineChart({ times, title: 'Time to first content', unit: ' ms', series: [{ name: 'p50', color: '#1f6f8a', values: series((b) => b.first_content_p50_ms) }, { name: 'p95', color: '#8fc1d1', values: series((b) => b.first_content_p95_ms) }] })}
      ${LineChart({ times, title: 'Failovers and hedges', series: [{ name: 'failovers', color: '#b7791f', values: series((b) => b.failovers) }, { name: 'hedges', color: '#1f6f8a', values: series((b) => b.hedges) }, { name: 'hedges won', color: '#1f8a4c', values: series((b) => b.hedges_won) }] })}
      ${LineChart({ times, title: 'Tokens', series: [{ name: 'tokens', color: '#555', values: series((b) => b.tokens) }] })}
      ${LineChart({ times, title: 'Cost (USD)', series: [{ name: 'cost', color: '#1f8a4c', values: series((b) => b.cost_usd) }] })}
      ${LineChart({ times, title: 'qcc overhead p50', unit: ' ms', series: [{ name: 'overhead', color: '#c15f3c', values: series((b) => b.overhead_p50_ms) }] })}
    </div>
  </section>`;
}
