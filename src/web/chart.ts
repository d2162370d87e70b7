import { html } from './html.js';

export interface Series {
  name: string;
  color: string;
  values: (number | null)[];
}

/** A time label for an axis: the clock within a day's range, the date and hour beyond it. */
function timeLabel(t: number, spanMs: number): string {
  const d = new Date(t);
  return spanMs > 86_400_000 ? `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${d.getHours()}:00` : d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

const round3 = (v: number) => Number(v.toPrecision(3));

/**
 * A small SVG line chart: enough to see a trend, with no chart library to ship. The y axis runs from 0 to the
 * largest value (labelled, with the unit); given the samples' times, the x axis has its start, middle and end
 * labelled, and each sample a hover read-out of its time and every series' value.
 */
export function LineChart({ title, series, unit = '', times }: { title: string; series: Series[]; unit?: string; times?: number[] }) {
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
  const span = times && times.length > 1 ? times.at(-1)! - times[0]! : 0;
  const readout = (i: number) =>
    `${times?.[i] !== undefined ? `${timeLabel(times[i]!, span)}: ` : ''}${series.map((s) => `${s.name} ${s.values[i] === null || s.values[i] === undefined ? '–' : `${round3(s.values[i]!)}${unit}`}`).join(', ')}`;
  const slot = W / n;
  return html`<div class="card chart">
    <h3>${title}</h3>
    <div class="plot">
      <div class="y-axis muted"><span>${all.length > 0 ? `${round3(max)}${unit}` : ''}</span><span>0${unit}</span></div>
      <svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label=${title}>
        <line x1="0" y1="8" x2=${W} y2="8" stroke="#f0f0f3" />
        <line x1="0" y1=${H - 4} x2=${W} y2=${H - 4} stroke="#e3e3e8" />
        ${series.map((s) => html`<path d=${path(s.values)} fill="none" stroke=${s.color} stroke-width="1.8" vector-effect="non-scaling-stroke" />`)}
        ${series.map((s) => s.values.map((v, i) => (v === null || v === 0 ? '' : html`<circle cx=${x(i)} cy=${y(v)} r="2.2" fill=${s.color} />`)))}
        ${Array.from({ length: n }, (_, i) => html`<rect class="hover" x=${Math.max(0, x(i) - slot / 2)} y="0" width=${slot} height=${H}><title>${readout(i)}</title></rect>`)}
      </svg>
    </div>
    ${times && times.length > 1
      ? html`<div class="x-axis muted"><span>${timeLabel(times[0]!, span)}</span><span>${timeLabel(times[Math.floor(times.length / 2)]!, span)}</span><span>${timeLabel(times.at(-1)!, span)}</span></div>`
      : ''}
    <div class="muted">${series.map((s) => {
      const v = last(s);
      return html`<span style=${`color:${s.color};margin-right:10px`}>● ${s.name}: ${v === undefined ? '–' : `${round3(v)}${unit}`}</span>`;
    })}</div>
  </div>`;
}
