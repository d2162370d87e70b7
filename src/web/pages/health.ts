import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { LineChart } from '../chart.js';
import { fmtMs, fmtTime, html } from '../html.js';
import type { HistoryPoint, Status } from '../types.js';

interface ModelHealth {
  model: string;
  score?: number;
  availability?: number;
  correctness?: number;
  last: { ok: boolean; error: string | null; ttft_ms: number | null } | null;
}

function EndpointHealth({ id, tick }: { id: string; tick: number }) {
  const [data, setData] = useState<{ history: HistoryPoint[]; models: ModelHealth[] }>();
  useEffect(() => void api<{ history: HistoryPoint[]; models: ModelHealth[] }>(`/api/health/${encodeURIComponent(id)}`).then(setData), [id, tick]);
  if (!data) return html`<p class="muted">…</p>`;
  const recent = data.history.slice(-60);
  return html`<div class="card" data-health=${id}>
    <h3>${id}</h3>
    <table>
      <thead><tr><th>model</th><th>score</th><th>availability</th><th>correct</th><th>last</th></tr></thead>
      <tbody>${data.models.map((m) => html`<tr><td>${m.model}</td><td>${m.score ?? '–'}</td><td>${m.availability ?? '–'}</td><td>${m.correctness ?? '–'}</td><td class=${m.last ? (m.last.ok ? 'ok' : 'error') : 'muted'}>${m.last ? (m.last.ok ? `ok ${fmtMs(m.last.ttft_ms)}` : m.last.error) : 'not checked yet'}</td></tr>`)}</tbody>
    </table>
    ${recent.length > 1 ? LineChart({ times: recent.map((p) => p.at), title: 'Check time to first token', unit: ' ms', series: [{ name: 'TTFT', color: '#7b4bd4', values: recent.map((p) => p.ttft_ms) }] }) : ''}
    ${recent.length > 1 ? LineChart({ times: recent.map((p) => p.at), title: 'Score (0–100)', series: [{ name: 'score', color: '#1f8a4c', values: recent.map((p) => p.score) }] }) : ''}
    <ul class="muted">${recent.filter((p) => p.change).slice(-10).map((p) => html`<li>${fmtTime(p.at)} ${p.model}: ${p.ok ? 'recovered' : `failing (${p.error})`}</li>`)}</ul>
  </div>`;
}

export function Health({ status, tick }: { status: Status | undefined; tick: number }) {
  return html`<section class="charts">${status?.endpoints.map((e) => html`<${EndpointHealth} key=${e.id} id=${e.id} tick=${Math.floor(tick / 5)} />`)}</section>`;
}
