import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { fmtTime, html } from '../html.js';

const fmtWhen = (iso: string): string => new Date(iso).toLocaleString();
import type { ClientKeyView } from '../types.js';

/**
 * Team members' keys (#23): create one (its secret shown once, here), change its limits, rotate or revoke it, and
 * see each one's use in its current windows. The same as `qcc key …`.
 */

interface Draft {
  name: string;
  rpm: string;
  tpm: string;
  budget: string;
  per: string;
  models: string;
  endpoints: string;
  expires: string;
  note: string;
}

const EMPTY: Draft = { name: '', rpm: '', tpm: '', budget: '', per: 'month', models: '', endpoints: '', expires: '', note: '' };

function draftOf(k: ClientKeyView): Draft {
  return {
    name: k.name,
    rpm: k.rpm === null ? '' : String(k.rpm),
    tpm: k.tpm === null ? '' : String(k.tpm),
    budget: k.budget === null ? '' : String(k.budget.usd),
    per: k.budget?.per ?? 'month',
    models: (k.models ?? []).join(', '),
    endpoints: (k.endpoints ?? []).join(', '),
    expires: k.expires_at ?? '',
    note: k.note ?? '',
  };
}

/** The body the API takes: an emptied field removes that limit. */
function limits(d: Draft, original?: ClientKeyView): Record<string, unknown> {
  const num = (s: string) => (s.trim() === '' ? null : Number(s.trim()));
  const body: Record<string, unknown> = {
    rpm: num(d.rpm),
    tpm: num(d.tpm),
    budget: d.budget.trim() === '' ? null : { usd: Number(d.budget), per: d.per },
    models: d.models.trim() === '' ? null : d.models,
    endpoints: d.endpoints.trim() === '' ? null : d.endpoints,
    note: d.note.trim() === '' ? null : d.note,
  };
  // An expiry shown as it is stored is left alone; a new one may be "30d" or a date.
  if (d.expires !== (original?.expires_at ?? '')) body.expires = d.expires.trim() === '' ? null : d.expires.trim();
  return body;
}

function LimitFields({ d, set }: { d: Draft; set: (d: Draft) => void }) {
  const field = (k: keyof Draft, label: string, hint: string, type = 'text') =>
    html`<label>${label}<input name=${k} type=${type} value=${d[k]} placeholder=${hint} onInput=${(e: Event) => set({ ...d, [k]: (e.target as HTMLInputElement).value })} /></label>`;
  return html`${field('rpm', 'requests / min', 'no limit', 'number')} ${field('tpm', 'tokens / min', 'no limit', 'number')}
    ${field('budget', 'budget (USD)', 'no budget', 'number')}
    <label>per<select name="per" value=${d.per} onChange=${(e: Event) => set({ ...d, per: (e.target as HTMLSelectElement).value })}>
      <option value="day">day</option><option value="week">week</option><option value="month">month</option>
    </select></label>
    ${field('models', 'models', 'all (e.g. claude-haiku-*)')} ${field('endpoints', 'endpoints', 'all')}
    ${field('expires', 'expires', 'never (30d, 2027-01-31)')} ${field('note', 'note', '')}`;
}

/** The secret, once: copied by hand or with the button; gone when dismissed. */
function Secret({ name, secret, onClose }: { name: string; secret: string; onClose: () => void }) {
  return html`<div class="card pad secret" role="alert" data-testid="key-secret">
    <p><b>${name}</b>'s key, shown only this once (qcc keeps a hash):</p>
    <p><code data-testid="secret-value">${secret}</code>
      <button onClick=${() => void navigator.clipboard?.writeText(secret)}>copy</button></p>
    <p class="muted">In Claude Code: <code>ANTHROPIC_AUTH_TOKEN=${secret}</code> with <code>ANTHROPIC_BASE_URL</code> at this qcc, or <code>qcc claude setup --key ${name}</code>.</p>
    <button onClick=${onClose}>I have saved it</button>
  </div>`;
}

function usageText(k: ClientKeyView): string {
  const u = k.usage;
  const parts = [`${u.requests_last_minute}${k.rpm === null ? '' : `/${k.rpm}`} req`, `${u.tokens_last_minute + u.tokens_reserved}${k.tpm === null ? '' : `/${k.tpm}`} tok`];
  if (u.inflight > 0) parts.push(`${u.inflight} in flight`);
  return parts.join(', ');
}

function budgetText(k: ClientKeyView): string {
  const b = k.usage.budget;
  return b ? `$${b.spent_usd.toFixed(2)} of $${b.limit_usd.toFixed(2)} / ${b.per} (resets ${fmtWhen(b.resets_at)})` : '–';
}

export function Keys({ tick }: { tick: number }) {
  const [keys, setKeys] = useState<ClientKeyView[]>([]);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [editing, setEditing] = useState<{ name: string; draft: Draft }>();
  const [secret, setSecret] = useState<{ name: string; secret: string }>();
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  const load = () => void api<ClientKeyView[]>('/api/keys').then(setKeys);
  useEffect(load, [tick]);

  const act = async (fn: () => Promise<void>, done: string) => {
    try {
      await fn();
      setMessage({ ok: true, text: done });
      load();
    } catch (e) {
      setMessage({ ok: false, text: (e as Error).message }); // forms keep what was typed
    }
  };
  const create = (ev: Event) => {
    ev.preventDefault();
    void act(async () => {
      const r = await api<{ secret: string; key: ClientKeyView }>('/api/keys', { method: 'POST', body: { name: draft.name.trim(), ...limits(draft) } });
      setSecret({ name: r.key.name, secret: r.secret });
      setDraft(EMPTY);
    }, `created ${draft.name}`);
  };
  const rotate = (name: string) => {
    if (!confirm(`Rotate ${name}? Its current secret stops working at once.`)) return;
    void act(async () => {
      const r = await api<{ secret: string }>(`/api/keys/${encodeURIComponent(name)}/rotate`, { method: 'POST' });
      setSecret({ name, secret: r.secret });
    }, `rotated ${name}`);
  };
  const revoke = (name: string) => {
    if (!confirm(`Revoke ${name}? Its requests are refused from now on.`)) return;
    void act(() => api(`/api/keys/${encodeURIComponent(name)}/revoke`, { method: 'POST' }).then(() => undefined), `revoked ${name}`);
  };
  const save = (ev: Event) => {
    ev.preventDefault();
    const e = editing!;
    const original = keys.find((k) => k.name === e.name);
    void act(async () => {
      await api(`/api/keys/${encodeURIComponent(e.name)}`, { method: 'PATCH', body: limits(e.draft, original) });
      setEditing(undefined);
    }, `saved ${e.name}`);
  };

  return html`<section>
    ${secret && html`<${Secret} ...${secret} onClose=${() => setSecret(undefined)} />`}
    ${message && html`<p class=${message.ok ? 'ok' : 'error'} data-testid="keys-message">${message.text}</p>`}
    <div class="card scroll">
      <table data-testid="keys">
        <thead><tr><th>name</th><th>key</th><th>state</th><th>limits</th><th>last minute</th><th>budget</th><th>last used</th><th>expires</th><th></th></tr></thead>
        <tbody>
          ${keys.length === 0 && html`<tr><td colspan="9" class="muted">No client keys: qcc is open to whoever can reach it. Create one per person below.</td></tr>`}
          ${keys.map(
            (k) => html`<tr data-key=${k.name}>
              <td title=${k.note ?? ''}>${k.name}</td><td><code>${k.prefix}…</code></td>
              <td class=${k.state === 'active' ? 'ok' : 'error'}>${k.state}</td>
              <td>${[k.rpm !== null && `${k.rpm} rpm`, k.tpm !== null && `${k.tpm} tpm`, k.models && `models ${k.models.join(' ')}`, k.endpoints && `via ${k.endpoints.join(' ')}`].filter(Boolean).join(', ') || 'none'}</td>
              <td>${usageText(k)}</td><td>${budgetText(k)}</td>
              <td>${k.usage.last_used ? fmtTime(k.usage.last_used) : 'never'}</td><td>${k.expires_at ? fmtWhen(k.expires_at) : "never"}</td>
              <td class="actions">
                <button onClick=${() => setEditing({ name: k.name, draft: draftOf(k) })}>edit</button>
                <button onClick=${() => rotate(k.name)}>rotate</button>
                ${k.state !== 'revoked' && html`<button onClick=${() => revoke(k.name)}>revoke</button>`}
              </td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${editing &&
    html`<form class="grid" onSubmit=${save} data-testid="key-edit">
      <h3>${editing.name}</h3>
      <${LimitFields} d=${editing.draft} set=${(d: Draft) => setEditing({ ...editing, draft: d })} />
      <button type="submit">save</button> <button type="button" onClick=${() => setEditing(undefined)}>cancel</button>
    </form>`}
    <form class="grid" onSubmit=${create} data-testid="key-add">
      <h3>New key</h3>
      <label>name<input name="name" value=${draft.name} placeholder="alice" onInput=${(e: Event) => setDraft({ ...draft, name: (e.target as HTMLInputElement).value })} /></label>
      <${LimitFields} d=${draft} set=${setDraft} />
      <button type="submit">create</button>
    </form>
  </section>`;
}
