import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { fmtMs, fmtTime, fmtUsd, html } from '../html.js';
import type { LogEntry, Status } from '../types.js';

/** A request's status for people: 0 means nobody got an answer, and says why. */
function statusText(r: LogEntry): string {
  if (r.status !== 0) return String(r.status);
  return r.end === 'client-abort' ? 'client left' : 'no answer';
}

/** An attempt's outcome: its status, else what went wrong in words ("connection refused", not a class name). */
function attemptText(a: LogEntry['attempts'][number]): string {
  if (a.lost) return 'lost';
  if (a.status !== null) return String(a.status);
  return a.reason ?? a.error ?? '?';
}

export function Requests({ status, tick }: { status: Status | undefined; tick: number }) {
  const [rows, setRows] = useState<LogEntry[]>([]);
  const [filter, setFilter] = useState({ endpoint: '', model: '', status: '', failed: false, health: 'exclude' });
  const [error, setError] = useState<string>();
  useEffect(() => {
    const q = new URLSearchParams({ limit: '200' });
    if (filter.endpoint) q.set('endpoint', filter.endpoint);
    if (filter.model) q.set('model', filter.model);
    if (filter.status) q.set('status', filter.status);
    if (filter.failed) q.set('failed', '1');
    if (filter.health !== 'exclude') q.set('health', filter.health);
    api<LogEntry[]>(`/api/requests?${q}`)
      .then((r) => {
        setRows(r);
        setError(undefined);
      })
      .catch((e: Error) => setError(e.message));
  }, [filter, tick]);
  const simulated = new Set(status?.endpoints.filter((e) => e.simulated).map((e) => e.id) ?? []);
  const set = (k: keyof typeof filter) => (ev: Event) => {
    const t = ev.target as HTMLInputElement;
    setFilter({ ...filter, [k]: t.type === 'checkbox' ? t.checked : t.value });
  };
  return html`<section>
    <div class="toolbar">
      <select name="endpoint" onChange=${set('endpoint')}><option value="">all endpoints</option>${status?.endpoints.map((e) => html`<option value=${e.id}>${e.id}</option>`)}</select>
      <input name="model" placeholder="model" value=${filter.model} onInput=${set('model')} />
      <input name="status" placeholder="status" size="5" value=${filter.status} onInput=${set('status')} />
      <label><input type="checkbox" name="failed" checked=${filter.failed} onChange=${set('failed')} /> failed only</label>
      <select name="health" value=${filter.health} onChange=${set('health')} title="Health checks are qcc's own test conversations, left out of the list by default">
        <option value="exclude">client requests</option>
        <option value="include">and health checks</option>
        <option value="only">health checks only</option>
      </select>
      ${error && html`<span class="error">${error}</span>`}
    </div>
    <table data-testid="requests">
      <thead><tr><th>time</th><th>status</th><th>endpoint</th><th>model</th><th>latency</th><th>TTFB</th><th>tokens in/out</th><th>cost</th><th>attempts</th></tr></thead>
      <tbody>
        ${rows.map(
          (r) => html`<tr class=${r.ok ? '' : 'fail-row'} data-request=${r.request_id}>
            <td>${fmtTime(r.time)}</td>
            <td class=${r.ok ? 'ok' : 'error'}>${statusText(r)}${r.error ? html`<div class="muted">${r.error}</div>` : ''}</td>
            <td>${r.endpoint ?? '–'}${simulated.has(r.endpoint ?? '') ? html` <span class="muted" title="a simulated endpoint (--demo): costs nothing">(simulated)</span>` : ''}${r.health_check ? html` <span class="muted">(health check)</span>` : ''}</td>
            <td>${r.model ?? '–'}${r.stream ? ' (stream)' : ''}</td>
            <td>${fmtMs(r.total_ms)}</td>
            <td>${fmtMs(r.ttfb_ms)}</td>
            <td>${r.tokens.input}/${r.tokens.output}</td>
            <td>${fmtUsd(r.cost_usd)}</td>
            <td class="chain" title=${r.hedge ? `hedged: ${r.hedge.outcome === 'won' ? 'the hedge answered first' : r.hedge.outcome === 'lost' ? 'the first attempt answered first' : 'neither answered'}; the abandoned attempt may have cost ~${r.hedge.loser_tokens} input tokens` : ''}>${r.attempts
              .map((a) => `${a.hedge ? 'hedge ' : ''}${a.endpoint}:${attemptText(a)} ${Math.round(a.ms)}ms`)
              .join(' → ')}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${rows.length === 0 && html`<p class="muted">No requests match.</p>`}
  </section>`;
}
