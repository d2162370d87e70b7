import { html } from './html.js';

export interface Series {
  name: string;
  color: string;
  values: (number | null)[];
}

/** A small SVG line chart: enough to see a trend, with no chart library to ship. */
export function LineChart({ title, series, unit = '' }: { title: string; series: Series[]; unit?: string }) {
  const W = 400;
  const H = 110;
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const max = Math.max(1e-9, ...all);
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const x = (i: number) => (i / Math.max(1, n - 1)) * W;
  const y = (v: number) => H - 4 - (v / max) * (H - 12);
  const path = (values: (number | null)[]) => {
    let d = '';
    values.forEach((v, i) => {
      if (v === null) return;
      d += `${d === '' || values[i - 1] === null ? 'M' : 'L'}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
    });
    return d;
  };
  const last = (s: Series) => [...s.values].reverse().find((v) => v !== null);
  return html`<div class="card chart">
    <h3>${title} ${all.some((v) => v > 0) ? html`<span class="muted">max ${Number(max.toPrecision(3))}${unit}</span>` : ''}</h3>
    <svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label=${title}>
      <line x1="0" y1=${H - 4} x2=${W} y2=${H - 4} stroke="#e3e3e8" />
      ${series.map((s) => html`<path d=${path(s.values)} fill="none" stroke=${s.color} stroke-width="1.8" />`)}
      ${series.map((s) => s.values.map((v, i) => (v === null || v === 0 ? '' : html`<circle cx=${x(i)} cy=${y(v)} r="2.2" fill=${s.color} />`)))}
    </svg>
    <div class="muted">${series.map((s) => {
      const v = last(s);
      return html`<span style=${`color:${s.color};margin-right:10px`}>● ${s.name}: ${v === undefined ? '–' : `${Number(v.toPrecision(3))}${unit}`}</span>`;
    })}</div>
  </div>`;
}
