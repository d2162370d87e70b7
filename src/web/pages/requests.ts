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

const PAGE = 100;

/** Everything the log knows of one request, opened under its row. */
function Detail({ r }: { r: LogEntry }) {
  const t = r.tokens;
  return html`<tr class="detail" data-detail=${r.request_id}><td colspan="9">
    <div class="detail-grid">
      <div><span class="muted">request id</span> <code>${r.request_id}</code></div>
      <div><span class="muted">when</span> ${r.time}</div>
      <div><span class="muted">request</span> ${r.method} ${r.path} ${r.model ?? ''}${r.stream ? ' (stream)' : ''}</div>
      <div><span class="muted">answer</span> ${statusText(r)}${r.end ? `, ${r.end}` : ''}${r.error && !r.ok ? `, ${r.error}` : ''}${r.ok && r.attempts.length > 1 ? ` (after ${r.attempts.length - 1} failed or abandoned attempt${r.attempts.length > 2 ? 's' : ''})` : ''}</div>
      <div><span class="muted">time</span> first byte ${fmtMs(r.ttfb_ms)}, first content ${fmtMs(r.first_content_ms)}, total ${fmtMs(r.total_ms)}</div>
      <div><span class="muted">tokens</span> ${t.input} in, ${t.output} out, ${t.cache_creation} cache write, ${t.cache_read} cache read; ${fmtUsd(r.cost_usd)}</div>
      ${r.hedge && html`<div><span class="muted">hedge</span> ${r.hedge.outcome === 'won' ? 'the hedge answered first' : r.hedge.outcome === 'lost' ? 'the first attempt answered first' : 'neither answered'}${r.hedge.saved_ms !== null ? `, saved ≥ ${fmtMs(r.hedge.saved_ms)}` : ''}, the abandoned attempt may have cost ~${r.hedge.loser_tokens} input tokens</div>`}
    </div>
    <table class="attempts">
      <thead><tr><th>#</th><th>endpoint</th><th>outcome</th><th>time</th><th>error</th></tr></thead>
      <tbody>${r.attempts.map(
        (a, i) => html`<tr>
          <td>${i + 1}${a.hedge ? ' (hedge)' : ''}</td>
          <td>${a.endpoint}</td>
          <td>${attemptText(a)}</td>
          <td>${fmtMs(a.ms)}</td>
          <td class="error-text">${[a.error, a.message].filter(Boolean).join(': ') || '–'}</td>
        </tr>`,
      )}</tbody>
    </table>
  </td></tr>`;
}

export function Requests({ status, tick }: { status: Status | undefined; tick: number }) {
  const [rows, setRows] = useState<LogEntry[]>([]);
  const [filter, setFilter] = useState({ endpoint: '', model: '', status: '', failed: false, health: 'exclude', id: '' });
  /** Showing the page of requests older than this id; undefined: the newest, kept live. */
  const [before, setBefore] = useState<number>();
  const [open, setOpen] = useState<string>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (filter.endpoint) q.set('endpoint', filter.endpoint);
    if (filter.model) q.set('model', filter.model);
    if (filter.status) q.set('status', filter.status);
    if (filter.failed) q.set('failed', '1');
    if (filter.health !== 'exclude') q.set('health', filter.health);
    if (filter.id.trim()) q.set('request_id', filter.id.trim());
    if (before !== undefined) q.set('before', String(before));
    api<LogEntry[]>(`/api/requests?${q}`)
      .then((r) => {
        setRows(r);
        setError(undefined);
        // A request found by its id opens at once.
        if (filter.id.trim() && r.length === 1) setOpen(r[0]!.request_id);
      })
      .catch((e: Error) => setError(e.message));
    // An older page stays as it is: only the newest follows the live feed (the tick is a dependency only there).
  }, [filter, before, before === undefined ? tick : 0]);
  const simulated = new Set(status?.endpoints.filter((e) => e.simulated).map((e) => e.id) ?? []);
  const set = (k: keyof typeof filter) => (ev: Event) => {
    const t = ev.target as HTMLInputElement;
    setBefore(undefined);
    setFilter({ ...filter, [k]: t.type === 'checkbox' ? t.checked : t.value });
  };
  const oldest = rows.length > 0 ? Math.min(...rows.map((r) => r.id)) : undefined;
  return html`<section>
    <div class="toolbar">
      <input name="request_id" placeholder="request id (req_qcc_…)" size="28" value=${filter.id} onInput=${set('id')} />
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
          (r) => html`<tr class=${`${r.ok ? '' : 'fail-row'} clickable`} data-request=${r.request_id} title="details" onClick=${() => setOpen(open === r.request_id ? undefined : r.request_id)}>
            <td>${fmtTime(r.time)}</td>
            <td class=${r.ok ? 'ok' : 'error'}>${statusText(r)}${r.error && !r.ok ? html`<div class="muted">${r.error}</div>` : ''}</td>
            <td>${r.endpoint ?? '–'}${simulated.has(r.endpoint ?? '') ? html` <span class="muted" title="a simulated endpoint (--demo): costs nothing">(simulated)</span>` : ''}${r.health_check ? html` <span class="muted">(health check)</span>` : ''}</td>
            <td>${r.model ?? '–'}${r.stream ? ' (stream)' : ''}</td>
            <td>${fmtMs(r.total_ms)}</td>
            <td>${fmtMs(r.ttfb_ms)}</td>
            <td>${r.tokens.input}/${r.tokens.output}</td>
            <td>${fmtUsd(r.cost_usd)}</td>
            <td class="chain" title=${r.hedge ? `hedged: ${r.hedge.outcome === 'won' ? 'the hedge answered first' : r.hedge.outcome === 'lost' ? 'the first attempt answered first' : 'neither answered'}; the abandoned attempt may have cost ~${r.hedge.loser_tokens} input tokens` : ''}>${r.attempts
              .map((a) => `${a.hedge ? 'hedge ' : ''}${a.endpoint}:${attemptText(a)} ${Math.round(a.ms)}ms`)
              .join(' → ')}</td>
          </tr>${open === r.request_id ? html`<${Detail} r=${r} />` : ''}`,
        )}
      </tbody>
    </table>
    ${rows.length === 0 && html`<p class="muted">No requests match.</p>`}
    <div class="toolbar pager">
      <button disabled=${before === undefined} onClick=${() => setBefore(undefined)}>Newest</button>
      <button disabled=${rows.length < PAGE || oldest === undefined} onClick=${() => setBefore(oldest)} data-testid="older">Older</button>
      <span class="muted">${before === undefined ? 'newest requests, live' : 'an older page (not live)'} · ${rows.length} shown</span>
    </div>
  </section>`;
}
