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
