import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { fmtMs, fmtTime, html } from '../html.js';
import type { EndpointView, PresetView, Status } from '../types.js';

interface Draft {
  id: string;
  base_url: string;
  api_key: string;
  weight: string;
  priority: string;
  protocol: string;
  proxy: string;
  /** Bedrock and Vertex: the region; Vertex: the project and a service account key file; Bedrock: an AWS profile. */
  region: string;
  project: string;
  credentials_file: string;
  aws_profile: string;
  /** A vendor preset the endpoint starts from (its models and model map are added by the server). */
  preset: string;
}
const EMPTY: Draft = { id: '', base_url: '', api_key: '', weight: '1', priority: '0', protocol: 'anthropic', proxy: '', region: '', project: '', credentials_file: '', aws_profile: '', preset: '' };

/** The protocol's own block for a new endpoint, from the form (empty fields left out, the server names what is missing). */
function cloudBlock(d: Draft): Record<string, unknown> {
  const set = (v: string) => v.trim() || undefined;
  if (d.protocol === 'bedrock') return { bedrock: { region: set(d.region), profile: set(d.aws_profile) } };
  if (d.protocol === 'vertex') return { vertex: { project: set(d.project), region: set(d.region), credentials_file: set(d.credentials_file) } };
  return {};
}

const PROXY_HINT = 'http(s)://, socks5://, socks5h:// (user:pass@ allowed), or direct; empty: the default route';

/** `a=b, c=d` ⇄ `{a: "b", c: "d"}`. */
const mapText = (m: Record<string, string>) => Object.entries(m).map(([k, v]) => `${k}=${v}`).join(', ');
function parseMap(text: string): Record<string, string> {
  const map: Record<string, string> = {};
  for (const pair of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = pair.indexOf('=');
    // Left as typed when malformed: the server names the field and the problem.
    if (eq <= 0) map[pair] = '';
    else map[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return map;
}
const listText = (l: string[] | undefined) => (l ?? []).join(', ');
const parseList = (text: string) => text.split(',').map((x) => x.trim()).filter(Boolean);

/** A cloud endpoint's own block from the edit form: one profile or file, or several as a pool; null removes it. */
function editedCloudBlock(d: { protocol: string; region: string; aws_profiles: string; inference_profile: string; project: string; credentials_files: string }): Record<string, unknown> {
  const one = (list: string[]) => (list.length === 1 ? list[0] : undefined);
  const many = (list: string[]) => (list.length > 1 ? list : undefined);
  if (d.protocol === 'bedrock') {
    const profiles = parseList(d.aws_profiles);
    return { bedrock: { region: d.region.trim(), profile: one(profiles), profiles: many(profiles), inference_profile: d.inference_profile }, vertex: null };
  }
  if (d.protocol === 'vertex') {
    const files = parseList(d.credentials_files);
    return { vertex: { project: d.project.trim(), region: d.region.trim(), credentials_file: one(files), credentials_files: many(files) }, bedrock: null };
  }
  return { bedrock: null, vertex: null };
}

/** Every field of an endpoint, as the config file holds it; keys are write-only. */
function EditRow({ e, onDone }: { e: EndpointView; onDone: (msg: string) => void }) {
  const [draft, setDraft] = useState({
    base_url: e.base_url,
    weight: String(e.weight),
    priority: String(e.priority),
    api_key: '',
    api_keys: '',
    proxy: e.proxy ?? '',
    models: listText(e.models),
    model_map: mapText(e.model_map),
    auth_mode: e.auth_mode,
    protocol: e.protocol,
    max_concurrency: e.max_concurrency === undefined ? '' : String(e.max_concurrency),
    reasoning: e.openai.reasoning,
    map_effort: e.openai.map_effort,
    health_models: listText(e.health_models),
    oauth_passthrough: e.oauth_passthrough === true,
    price_factor: e.price_factor === undefined ? '' : String(e.price_factor),
    region: e.bedrock?.region ?? e.vertex?.region ?? '',
    aws_profiles: listText(e.bedrock?.profiles ?? (e.bedrock?.profile === undefined ? [] : [e.bedrock.profile])),
    inference_profile: e.bedrock?.inference_profile ?? 'auto',
    project: e.vertex?.project ?? '',
    credentials_files: listText(e.vertex?.credentials_files ?? (e.vertex?.credentials_file === undefined ? [] : [e.vertex.credentials_file])),
  });
  const [error, setError] = useState<string>();
  const save = async (ev: Event) => {
    ev.preventDefault();
    try {
      // The proxy comes back masked; sent back unchanged, the server keeps its password. Empty: the default route.
      const patch: Record<string, unknown> = {
        base_url: draft.base_url,
        weight: Number(draft.weight),
        priority: Number(draft.priority),
        proxy: draft.proxy.trim() || null,
        models: parseList(draft.models),
        model_map: parseMap(draft.model_map),
        auth_mode: draft.auth_mode,
        protocol: draft.protocol,
        max_concurrency: draft.max_concurrency.trim() === '' ? null : Number(draft.max_concurrency),
        openai: { reasoning: draft.reasoning, map_effort: draft.map_effort },
        health_models: draft.health_models.trim() === '' ? null : parseList(draft.health_models),
        oauth_passthrough: draft.oauth_passthrough || null,
        price_factor: draft.price_factor.trim() === '' ? null : Number(draft.price_factor),
        ...editedCloudBlock(draft),
      };
      // Write-only: left empty, the key (or pool) stays as it is.
      if (draft.api_key) patch.api_key = draft.api_key;
      if (draft.api_keys.trim()) patch.api_keys = parseList(draft.api_keys);
      await api(`/api/endpoints/${encodeURIComponent(e.id)}`, { method: 'PATCH', body: patch });
      onDone(`saved ${e.id}`);
    } catch (err) {
      setError((err as Error).message); // the form keeps what was typed
    }
  };
  const field = (k: keyof typeof draft) => (ev: Event) => {
    const t = ev.target as HTMLInputElement;
    setDraft({ ...draft, [k]: t.type === 'checkbox' ? t.checked : t.value });
  };
  return html`<tr><td colspan="9"><form class="grid" onSubmit=${save} data-testid="edit-form">
    <label>base URL<input name="base_url" value=${draft.base_url} onInput=${field('base_url')} /></label>
    <label>weight<input name="weight" value=${draft.weight} onInput=${field('weight')} /></label>
    <label>priority<input name="priority" value=${draft.priority} onInput=${field('priority')} /></label>
    <label>new key (${e.key ?? 'none'})<input type="password" name="api_key" autocomplete="off" placeholder="leave empty to keep" value=${draft.api_key} onInput=${field('api_key')} /></label>
    <label title="several keys, comma-separated: rotated, and a bad one is set aside">new key pool<input type="password" name="api_keys" autocomplete="off" placeholder="k1, k2 (leave empty to keep)" value=${draft.api_keys} onInput=${field('api_keys')} /></label>
    <label title=${PROXY_HINT}>proxy<input name="proxy" placeholder=${`default: ${e.runtime?.route.label ?? 'direct'}`} value=${draft.proxy} onInput=${field('proxy')} /></label>
    <label title="only these models are sent here; empty: every model">models<input name="models" placeholder="all" value=${draft.models} onInput=${field('models')} /></label>
    <label title="the model name this endpoint is sent instead">model map<input name="model_map" placeholder="claude-x=vendor-y, …" value=${draft.model_map} onInput=${field('model_map')} /></label>
    <label>auth<select name="auth_mode" value=${draft.auth_mode} onChange=${field('auth_mode')}>${['auto', 'x-api-key', 'bearer'].map((m) => html`<option value=${m}>${m}</option>`)}</select></label>
    <label>protocol<select name="protocol" value=${draft.protocol} onChange=${field('protocol')}>${['anthropic', 'openai', 'bedrock', 'vertex'].map((m) => html`<option value=${m}>${m}</option>`)}</select></label>
    ${(draft.protocol === 'bedrock' || draft.protocol === 'vertex') && html`<label>region<input name="region" value=${draft.region} onInput=${field('region')} /></label>`}
    ${draft.protocol === 'bedrock' && html`<label title="one profile, or several (comma-separated) rotated as a pool; empty: AWS_PROFILE, else the default chain">AWS profiles<input name="aws_profiles" placeholder="default chain" value=${draft.aws_profiles} onInput=${field('aws_profiles')} /></label>
    <label title="the cross-region inference profile of the built-in model ids">inference profile<select name="inference_profile" value=${draft.inference_profile} onChange=${field('inference_profile')}>${['auto', 'us', 'eu', 'apac', 'global', 'none'].map((m) => html`<option value=${m}>${m}</option>`)}</select></label>`}
    ${draft.protocol === 'vertex' && html`<label>project<input name="project" value=${draft.project} onInput=${field('project')} /></label>
    <label title="service account key files on the proxy's machine, comma-separated (several: rotated as a pool); empty: Application Default Credentials">credentials files<input name="credentials_files" placeholder="ADC" value=${draft.credentials_files} onInput=${field('credentials_files')} /></label>`}
    <label title="its prices relative to the list prices (1.1: 10 % over)">price factor<input name="price_factor" placeholder="1" value=${draft.price_factor} onInput=${field('price_factor')} /></label>
    <label>max concurrency<input name="max_concurrency" placeholder="no limit" value=${draft.max_concurrency} onInput=${field('max_concurrency')} /></label>
    <label title="models the health check uses for it">health models<input name="health_models" placeholder="default" value=${draft.health_models} onInput=${field('health_models')} /></label>
    ${draft.protocol === 'openai' &&
    html`<label>OpenAI reasoning<select name="reasoning" value=${draft.reasoning} onChange=${field('reasoning')}><option value="thinking">as a thinking block</option><option value="drop">dropped</option></select></label>
      <label><span><input type="checkbox" name="map_effort" checked=${draft.map_effort} onChange=${field('map_effort')} /> map effort to reasoning_effort</span></label>`}
    <label title="send clients' claude.ai subscription tokens here although it is not api.anthropic.com"><span><input type="checkbox" name="oauth_passthrough" checked=${draft.oauth_passthrough} onChange=${field('oauth_passthrough')} /> pass subscription tokens</span></label>
    <div class="actions"><button class="primary" type="submit">Save</button> <button type="button" onClick=${() => onDone('')}>Cancel</button></div>
    ${error && html`<span class="error" data-testid="edit-error">${error}</span>`}
  </form></td></tr>`;
}

export function Endpoints({ status, tick }: { status: Status | undefined; tick: number }) {
  const [list, setList] = useState<EndpointView[]>([]);
  const [editing, setEditing] = useState<string>();
  const [message, setMessage] = useState<string>();
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [presets, setPresets] = useState<PresetView[]>([]);
  const reload = () => api<EndpointView[]>('/api/endpoints').then(setList).catch((e: Error) => setMessage(e.message));
  useEffect(() => void reload(), [tick]);
  useEffect(() => void api<PresetView[]>('/api/presets').then(setPresets).catch(() => undefined), []);
  const preset = presets.find((p) => p.id === draft.preset);
  /** Choosing a preset fills what it decides; the models and their map are the server's to add. */
  const choosePreset = (ev: Event) => {
    const chosen = presets.find((p) => p.id === (ev.target as HTMLSelectElement).value);
    setDraft({
      ...draft,
      preset: chosen?.id ?? '',
      id: draft.id || (chosen?.id ?? ''),
      base_url: chosen === undefined || chosen.protocol !== undefined ? '' : chosen.base_url,
      protocol: chosen?.protocol ?? 'anthropic',
    });
  };
  const runtime = (id: string) => status?.endpoints.find((s) => s.id === id);

  /** Run an action, say how it went, re-read the list; true when it succeeded. */
  const act = async (fn: () => Promise<unknown>, msg: string): Promise<boolean> => {
    let ok = true;
    try {
      const r = (await fn()) as { note?: string; persisted?: boolean } | undefined;
      // The server's word on what the change did beyond itself (the demo's simulated endpoints replaced).
      if (msg) setMessage(r?.note ? `${msg}; ${r.note}` : msg);
    } catch (e) {
      setMessage(`error: ${(e as Error).message}`);
      ok = false;
    }
    await reload();
    return ok;
  };
  const toggle = (e: EndpointView) => act(() => api(`/api/endpoints/${encodeURIComponent(e.id)}`, { method: 'PATCH', body: { enabled: !e.enabled } }), `${e.enabled ? 'disabled' : 'enabled'} ${e.id}`);
  const remove = (e: EndpointView) => confirm(`Delete ${e.id}?`) && act(() => api(`/api/endpoints/${encodeURIComponent(e.id)}`, { method: 'DELETE' }), `deleted ${e.id}`);
  const test = (e: EndpointView) =>
    act(async () => {
      const r = await api<{ results: { model: string; ok: boolean; ttft_ms: number | null; error: string | null }[]; score: number | null }>(`/api/endpoints/${encodeURIComponent(e.id)}/test`, { method: 'POST' });
      setMessage(`${e.id}: ${r.results.map((x) => `${x.model} ${x.ok ? 'ok' : `FAIL (${x.error})`} ${fmtMs(x.ttft_ms)}`).join('; ')} — score ${r.score ?? '–'}`);
    }, '');
  const move = (index: number, delta: number) => {
    const ids = [...list].sort((a, b) => a.priority - b.priority).map((e) => e.id);
    const [id] = ids.splice(index, 1);
    ids.splice(Math.max(0, Math.min(ids.length, index + delta)), 0, id!);
    return act(() => api('/api/endpoints/order', { method: 'POST', body: { ids } }), 'priority order saved');
  };
  const add = async (ev: Event) => {
    ev.preventDefault();
    const added = await act(
      () =>
        api('/api/endpoints', {
          method: 'POST',
          body: {
            id: draft.id,
            ...(draft.base_url.trim() && { base_url: draft.base_url.trim() }),
            weight: Number(draft.weight),
            priority: Number(draft.priority),
            protocol: draft.protocol,
            ...cloudBlock(draft),
            ...(draft.preset && { preset: draft.preset }),
            ...(draft.api_key && { api_key: draft.api_key }),
            ...(draft.proxy.trim() && { proxy: draft.proxy.trim() }),
          },
        }),
      `added ${draft.id}`,
    );
    // Refused: the form keeps what was typed, to be corrected rather than typed again.
    if (added) setDraft(EMPTY);
  };
  const field = (k: keyof Draft) => (ev: Event) => setDraft({ ...draft, [k]: (ev.target as HTMLInputElement).value });
  const sorted = [...list].sort((a, b) => a.priority - b.priority);
  const cloud = draft.protocol === 'bedrock' || draft.protocol === 'vertex';

  return html`<section>
    ${message && html`<p class=${message.startsWith('error') ? 'error' : 'ok'} data-testid="message">${message}</p>`}
    <table data-testid="endpoints">
      <thead><tr><th>endpoint</th><th>state</th><th>score</th><th>weight / effective</th><th>in flight</th><th title="stalls: hedge races lost for want of a first token">requests / errors / stalls</th><th>TTFB</th><th>last check</th><th></th></tr></thead>
      <tbody>
        ${sorted.map((e, i) => {
          const r = e.runtime ?? runtime(e.id); // the list is re-read after every action, so it is the freshest
          // Keyed rows: when the order changes, each row (and its buttons) stays with its endpoint.
          return html`<tr key=${e.id} data-endpoint=${e.id}>
              <td><strong>${e.id}</strong>${r?.simulated ? html` <span class="badge" title="a simulated endpoint (--demo): its traffic costs nothing">simulated</span>` : ''}<div class="muted">${e.address}</div><div class="muted">key ${e.key ?? "client's"} · ${e.protocol} · p${e.priority}</div>${r ? html`<div class="muted" data-testid="route" title=${`route decided by: ${r.route.source}`}>${r.route.label}</div>` : ''}</td>
              <td><span class=${`badge ${r?.state ?? ''}`} data-testid="state" title=${r?.state === 'healthy' && r.last_error ? `recovered; the last error was: ${r.last_error}` : ''}>${r?.state ?? '?'}</span>${r?.last_error && r.state !== 'healthy' ? html`<div class="muted error-text" data-testid="last-error" title=${r.last_error}>${r.last_error}</div>` : ''}</td>
              <td>${r?.health_score ?? '–'}</td>
              <td>${e.weight} / ${r?.effective_weight ?? '–'}</td>
              <td>${r?.inflight ?? 0}</td>
              <td>${r?.requests ?? 0} / ${r?.errors ?? 0} / ${r?.stalls ?? 0}</td>
              <td>${fmtMs(r?.ttfb_ewma_ms)}</td>
              <td>${r?.last_check ? html`<span class=${r.last_check.ok ? 'ok' : 'error'}>${r.last_check.ok ? 'ok' : 'fail'}</span> ${fmtTime(r.last_check.at)}` : '–'}</td>
              <td><div class="toolbar">
                <button class="small" onClick=${() => toggle(e)}>${e.enabled ? 'Disable' : 'Enable'}</button>
                <button class="small" onClick=${() => test(e)}>Test now</button>
                <button class="small" onClick=${() => setEditing(editing === e.id ? undefined : e.id)}>Edit</button>
                <button class="small" title="higher priority" onClick=${() => move(i, -1)}>↑</button>
                <button class="small" title="lower priority" onClick=${() => move(i, 1)}>↓</button>
                <button class="small danger" onClick=${() => remove(e)}>Delete</button>
              </div></td>
            </tr>
            ${editing === e.id ? html`<${EditRow} key=${`${e.id}-edit`} e=${e} onDone=${(m: string) => { setEditing(undefined); if (m) setMessage(m); void reload(); }} />` : ''}`;
        })}
      </tbody>
    </table>
    <form class="grid" onSubmit=${add} data-testid="add-form">
      <label>preset<select name="preset" value=${draft.preset} onChange=${choosePreset}><option value="">none</option>${presets.map((p) => html`<option value=${p.id}>${p.name}</option>`)}</select></label>
      ${preset && html`<p class="muted" data-testid="preset-hint">${preset.key_hint}${preset.model_map ? ` · models: ${Object.entries(preset.model_map).map(([from, to]) => `${from} → ${to}`).join(', ')}` : ''}</p>`}
      <label>id<input name="id" required value=${draft.id} onInput=${field('id')} /></label>
      <label>base URL<input name="base_url" required=${!cloud} placeholder=${cloud ? 'the region\'s host (optional)' : 'https://api.anthropic.com'} value=${draft.base_url} onInput=${field('base_url')} /></label>
      ${draft.protocol !== 'vertex' && html`<label title=${draft.protocol === 'bedrock' ? 'a Bedrock API key (sent as a bearer token); empty: sign with the AWS credentials' : ''}>${draft.protocol === 'bedrock' ? 'Bedrock API key (optional)' : 'API key (write-only)'}<input name="api_key" type="password" autocomplete="off" value=${draft.api_key} onInput=${field('api_key')} /></label>`}
      <label>weight<input name="weight" value=${draft.weight} onInput=${field('weight')} /></label>
      <label>priority<input name="priority" value=${draft.priority} onInput=${field('priority')} /></label>
      <label>protocol<select name="protocol" value=${draft.protocol} onChange=${field('protocol')}><option value="anthropic">anthropic</option><option value="openai">openai</option><option value="bedrock">Amazon Bedrock</option><option value="vertex">Google Vertex AI</option></select></label>
      ${cloud && html`<label>region<input name="region" required placeholder=${draft.protocol === 'bedrock' ? 'us-east-1' : 'us-east5 or global'} value=${draft.region} onInput=${field('region')} /></label>`}
      ${draft.protocol === 'bedrock' && html`<label title="empty: AWS_PROFILE, else the default AWS credential chain; or give a Bedrock API key above">AWS profile (optional)<input name="aws_profile" value=${draft.aws_profile} onInput=${field('aws_profile')} /></label>`}
      ${draft.protocol === 'vertex' && html`<label>project<input name="project" required value=${draft.project} onInput=${field('project')} /></label>
      <label title="a service account's JSON key file on the proxy's machine; empty: Application Default Credentials">credentials file (optional)<input name="credentials_file" value=${draft.credentials_file} onInput=${field('credentials_file')} /></label>`}
      <label title=${PROXY_HINT}>proxy (optional)<input name="proxy" placeholder="default route" value=${draft.proxy} onInput=${field('proxy')} /></label>
      <div class="actions"><button class="primary" type="submit">Add endpoint</button></div>
    </form>
  </section>`;
}
