import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { adminToken, api, ApiError, subscribe } from './api.js';
import { html } from './html.js';
import { ConfigPage } from './pages/config.js';
import { Endpoints } from './pages/endpoints.js';
import { Health } from './pages/health.js';
import { Keys } from './pages/keys.js';
import { Overview } from './pages/overview.js';
import { Requests } from './pages/requests.js';
import type { Status } from './types.js';

const TABS = ['Overview', 'Endpoints', 'Requests', 'Keys', 'Health', 'Config'] as const;
type Tab = (typeof TABS)[number];

function NeedsToken({ reason }: { reason: string }) {
  return html`<main><div class="card pad" data-testid="needs-token">
    <h2>This dashboard needs its admin token</h2>
    <p>${reason}</p>
    <p>Run <code>qcc dashboard</code> on the machine where the proxy runs: it prints the address to open, with the token in it.</p>
  </div></main>`;
}

function App() {
  const [tab, setTab] = useState<Tab>(() => TABS.find((t) => `#${t}` === location.hash) ?? 'Overview');
  const [status, setStatus] = useState<Status>();
  const [connected, setConnected] = useState(false);
  const [tick, setTick] = useState(0);
  const [denied, setDenied] = useState<string>();

  useEffect(() => {
    if (!adminToken()) return;
    api<Status>('/api/status')
      .then(setStatus)
      .catch((e: unknown) => setDenied(e instanceof ApiError && e.status === 401 ? 'The token in this address was not accepted.' : String(e)));
    // Live: a status snapshot every two seconds; each one also nudges the open page to refresh its data.
    return subscribe('/api/events', (event, data) => {
      if (event === 'status') {
        setStatus(data as Status);
        setTick((t) => t + 1);
      }
    }, setConnected);
  }, []);
  useEffect(() => history.replaceState(null, '', `#${tab}`), [tab]);

  if (!adminToken()) return html`<${NeedsToken} reason="No token was given in the address." />`;
  if (denied) return html`<${NeedsToken} reason=${denied} />`;
  const page = {
    Overview: () => html`<${Overview} status=${status} tick=${tick} />`,
    Endpoints: () => html`<${Endpoints} status=${status} tick=${tick} />`,
    Requests: () => html`<${Requests} status=${status} tick=${tick} />`,
    Keys: () => html`<${Keys} tick=${Math.floor(tick / 3)} />`,
    Health: () => html`<${Health} status=${status} tick=${tick} />`,
    Config: () => html`<${ConfigPage} />`,
  }[tab];
  return html`<header>
      <h1>qcc</h1>
      <nav>${TABS.map((t) => html`<button class=${t === tab ? 'active' : ''} onClick=${() => setTab(t)}>${t}</button>`)}</nav>
      <span class="live" data-testid="live"><span class=${connected ? 'dot on' : 'dot'}></span>${connected ? 'live' : 'reconnecting…'} · ${status ? `${status.strategy} · up ${status.uptime_s}s · v${status.version}` : ''}</span>
    </header>
    ${status?.config_problem &&
    html`<div class="banner" role="alert" data-testid="config-problem">
      The config file on disk is invalid since ${new Date(status.config_problem.since).toLocaleTimeString()}: ${status.config_problem.problem}.
      qcc runs with the last valid config; fix <code>${status.config_problem.file}</code> and it applies at once.
    </div>`}
    <main>${page()}</main>`;
}

const root = document.getElementById('app')!;
root.textContent = ''; // drop the static "Loading…" placeholder
render(html`<${App} />`, root);
