import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { html } from '../html.js';

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
