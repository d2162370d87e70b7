import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { html } from '../html.js';
import type { SettingsView } from '../../shared/api-types.js';

const STRATEGIES = ['weighted-round-robin', 'least-connections', 'fastest', 'priority', 'random'];

/** The settings most often changed: the default outbound proxy and the balancing strategy. */
function Settings() {
  const [settings, setSettings] = useState<SettingsView>();
  const [draft, setDraft] = useState({ upstream_proxy: '', strategy: '', hedge_enabled: true, hedge_after: 'auto', hedge_ratio: '0.05' });
  const [message, setMessage] = useState<string>();
  const load = () =>
    api<SettingsView>('/api/settings')
      .then((s) => {
        setSettings(s);
        const h = s.proxy.hedge;
        setDraft({ upstream_proxy: s.proxy.upstream_proxy ?? '', strategy: s.proxy.strategy, hedge_enabled: h.enabled, hedge_after: String(h.after_ms), hedge_ratio: String(h.max_ratio) });
      })
      .catch((e: Error) => setMessage(`error: ${e.message}`));
  useEffect(() => void load(), []);
  const save = async (ev: Event) => {
    ev.preventDefault();
    try {
      // Sent back masked when unchanged: the server keeps the password it has. Empty: back to the environment.
      const after = draft.hedge_after.trim();
      const hedge = {
        ...settings!.proxy.hedge,
        enabled: draft.hedge_enabled,
        // "auto", or a number of milliseconds; anything else goes to the server as typed and comes back with the reason.
        after_ms: after === '' || after === 'auto' ? 'auto' : Number.isNaN(Number(after)) ? after : Number(after),
        max_ratio: draft.hedge_ratio.trim() === '' ? 0.05 : Number(draft.hedge_ratio),
      };
      await api('/api/settings', { method: 'PATCH', body: { proxy: { upstream_proxy: draft.upstream_proxy.trim() || null, strategy: draft.strategy, hedge } } });
      await load(); // the field then shows the saved value, its password masked
      setMessage('settings saved');
    } catch (e) {
      setMessage(`error: ${(e as Error).message}`); // the form keeps what was typed
    }
  };
  if (!settings) return html`<p class="muted">${message ?? 'loading settings…'}</p>`;
  return html`<form class="grid" onSubmit=${save} data-testid="settings-form">
    <label title="http(s)://, socks5://, socks5h:// (user:pass@ allowed), or direct; empty: HTTPS_PROXY/HTTP_PROXY/ALL_PROXY minus NO_PROXY"
      >default proxy for endpoints<input name="upstream_proxy" placeholder="from the environment" value=${draft.upstream_proxy}
        onInput=${(e: Event) => setDraft({ ...draft, upstream_proxy: (e.target as HTMLInputElement).value })} /></label>
    <label>strategy<select name="strategy" value=${draft.strategy} onChange=${(e: Event) => setDraft({ ...draft, strategy: (e.target as HTMLSelectElement).value })}>
      ${STRATEGIES.map((s) => html`<option value=${s}>${s}</option>`)}
    </select></label>
    <label title="A stream with no first token after the delay is also sent to another endpoint; the first to answer wins"
      ><span><input type="checkbox" name="hedge_enabled" checked=${draft.hedge_enabled}
        onChange=${(e: Event) => setDraft({ ...draft, hedge_enabled: (e.target as HTMLInputElement).checked })} /> hedge stalled streams</span></label>
    <label title="auto: the endpoint's p95 time to first token for the model, within ${settings.proxy.hedge.min_ms}–${settings.proxy.hedge.max_ms} ms; or a number of milliseconds"
      >hedge after (ms or auto)<input name="hedge_after" value=${draft.hedge_after}
        onInput=${(e: Event) => setDraft({ ...draft, hedge_after: (e.target as HTMLInputElement).value })} /></label>
    <label title="Hedges allowed, as a share of the last minute's requests (plus three a minute)"
      >hedge budget (share)<input name="hedge_ratio" value=${draft.hedge_ratio}
        onInput=${(e: Event) => setDraft({ ...draft, hedge_ratio: (e.target as HTMLInputElement).value })} /></label>
    <div class="actions"><button class="primary" type="submit">Save settings</button></div>
    ${message && html`<span class=${message.startsWith('error') ? 'error' : 'ok'} data-testid="settings-message">${message}</span>`}
  </form>`;
}

type Section = 'proxy' | 'health' | 'stats';
/** Shown by the main form above, or set only with the CLI (where and who may connect, applied at restart). */
const ELSEWHERE = new Set(['proxy.strategy', 'proxy.upstream_proxy', 'proxy.hedge', 'proxy.host', 'proxy.port', 'proxy.access_keys']);

type Scalar = string | number | boolean | string[];

/** The field as typed in its input: lists comma-separated. */
function asText(v: Scalar): string {
  return Array.isArray(v) ? v.join(', ') : String(v);
}

/** What the input holds, as the value it was (a number stays a number; an empty field means "back to the default"). */
function fromText(text: string, was: Scalar): Scalar | null {
  if (text.trim() === '') return null;
  if (typeof was === 'number') return Number.isNaN(Number(text)) ? text : Number(text);
  if (Array.isArray(was)) return text.split(',').map((x) => x.trim()).filter(Boolean);
  return text;
}

/** Every other proxy, health and stats setting, each validated by the server's schema when saved. */
function AllSettings() {
  const [settings, setSettings] = useState<SettingsView>();
  const [draft, setDraft] = useState<Record<string, string | boolean>>({});
  const [message, setMessage] = useState<string>();
  const fields = (s: SettingsView): [Section, string, Scalar][] =>
    (['proxy', 'health', 'stats'] as Section[]).flatMap((section) =>
      Object.entries(s[section] as Record<string, unknown>)
        .filter(([field, v]) => !ELSEWHERE.has(`${section}.${field}`) && (typeof v !== 'object' || Array.isArray(v)) && v !== null)
        .map(([field, v]): [Section, string, Scalar] => [section, field, v as Scalar]),
    );
  const load = () =>
    api<SettingsView>('/api/settings').then((s) => {
      setSettings(s);
      setDraft(Object.fromEntries(fields(s).map(([sec, f, v]) => [`${sec}.${f}`, typeof v === 'boolean' ? v : asText(v)])));
    });
  useEffect(() => void load().catch((e: Error) => setMessage(`error: ${e.message}`)), []);
  if (!settings) return html``;
  const save = async (ev: Event) => {
    ev.preventDefault();
    const patch: Record<string, Record<string, unknown>> = {};
    for (const [section, field, was] of fields(settings)) {
      const typed = draft[`${section}.${field}`];
      const value = typeof typed === 'boolean' ? typed : fromText(typed ?? '', was);
      if (JSON.stringify(value) !== JSON.stringify(was)) (patch[section] ??= {})[field] = value;
    }
    if (Object.keys(patch).length === 0) return setMessage('nothing changed');
    try {
      await api('/api/settings', { method: 'PATCH', body: patch });
      await load();
      setMessage(`saved: ${Object.entries(patch).flatMap(([sec, f]) => Object.keys(f).map((k) => `${sec}.${k}`)).join(', ')}`);
    } catch (e) {
      setMessage(`error: ${(e as Error).message}`); // what was typed stays, to be corrected
    }
  };
  return html`<form class="grid" onSubmit=${save} data-testid="all-settings">
    ${fields(settings).map(([section, field]) => {
      const key = `${section}.${field}`;
      const v = draft[key];
      return typeof v === 'boolean'
        ? html`<label><span><input type="checkbox" name=${key} checked=${v} onChange=${(e: Event) => setDraft({ ...draft, [key]: (e.target as HTMLInputElement).checked })} /> ${key}</span></label>`
        : html`<label>${key}<input name=${key} value=${v ?? ''} onInput=${(e: Event) => setDraft({ ...draft, [key]: (e.target as HTMLInputElement).value })} /></label>`;
    })}
    <label>proxy.host, proxy.port<input disabled value=${`${settings.proxy.host}:${settings.proxy.port} (qcc config set; at restart)`} /></label>
    <label>proxy.access_keys<input disabled value=${`${settings.proxy.access_keys} set (qcc config set; never shown)`} /></label>
    <div class="actions"><button class="primary" type="submit">Save all settings</button></div>
    ${message && html`<span class=${message.startsWith('error') ? 'error' : 'ok'} data-testid="all-settings-message">${message}</span>`}
  </form>`;
}

export function ConfigPage() {
  const [text, setText] = useState('');
  const [mode, setMode] = useState<'merge' | 'replace'>('merge');
  const [result, setResult] = useState<string>();
  const exportConfig = async (secrets: boolean) => {
    const value = await api<unknown>(`/api/config/export${secrets ? '?secrets=1' : ''}`);
    setText(JSON.stringify(value, null, 2));
    setResult(secrets ? 'Exported with keys: keep it private.' : 'Exported without keys (the export says so).');
  };
  const importConfig = async (dryRun: boolean) => {
    try {
      const plan = await api<Record<string, unknown>>('/api/config/import', { method: 'POST', body: { config: JSON.parse(text) as unknown, mode, dry_run: dryRun } });
      setResult(`${dryRun ? 'Would' : 'Did'} add [${String(plan.added)}], update [${String(plan.updated)}], remove [${String(plan.removed)}]; kept existing keys for [${String(plan.kept_keys)}]${dryRun ? '' : plan.persisted ? '; saved' : '; applied (not saved: demo)'}`);
    } catch (e) {
      setResult(`error: ${(e as Error).message}`);
    }
  };
  const download = () => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
    a.download = 'qcc-config.json';
    a.click();
  };
  return html`<section>
    <${Settings} />
    <h3>All settings</h3>
    <${AllSettings} />
    <div class="toolbar">
      <button onClick=${() => exportConfig(false)}>Export</button>
      <button onClick=${() => exportConfig(true)}>Export with keys</button>
      <button onClick=${download} disabled=${!text}>Download</button>
      <span class="muted">|</span>
      <select value=${mode} onChange=${(e: Event) => setMode((e.target as HTMLSelectElement).value as 'merge' | 'replace')}><option value="merge">merge</option><option value="replace">replace</option></select>
      <button onClick=${() => importConfig(true)}>Preview import</button>
      <button class="primary" onClick=${() => importConfig(false)}>Import</button>
    </div>
    ${result && html`<p class=${result.startsWith('error') ? 'error' : 'ok'} data-testid="config-result">${result}</p>`}
    <textarea data-testid="config-text" value=${text} onInput=${(e: Event) => setText((e.target as HTMLTextAreaElement).value)} placeholder="Paste a qcc config, a legacy config or an export here to import it"></textarea>
  </section>`;
}
