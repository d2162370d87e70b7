/**
 * Talking to the proxy's admin API. The token comes from the URL fragment (`#token=…`, as `qcc dashboard`
 * prints it), is kept in sessionStorage for reloads, and is sent as a Bearer header — never in a URL a server
 * could log.
 */
const STORAGE_KEY = 'qcc-admin-token';

export function adminToken(): string | undefined {
  const fragment = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fragment) {
    sessionStorage.setItem(STORAGE_KEY, fragment);
    history.replaceState(null, '', location.pathname);
  }
  return sessionStorage.getItem(STORAGE_KEY) ?? undefined;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${adminToken() ?? ''}`, ...(init.body !== undefined && { 'content-type': 'application/json' }) },
    ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  const value = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const message = (value as { error?: { message?: string } } | undefined)?.error?.message ?? `HTTP ${res.status}`;
    throw new ApiError(res.status, message);
  }
  return value as T;
}

/** Server-sent events over fetch (EventSource cannot send the Authorization header). Reconnects by itself. */
export function subscribe(path: string, onEvent: (event: string, data: unknown) => void, onState: (connected: boolean) => void): () => void {
  let stopped = false;
  let controller: AbortController | undefined;
  const run = async () => {
    while (!stopped) {
      controller = new AbortController();
      try {
        const res = await fetch(path, { headers: { authorization: `Bearer ${adminToken() ?? ''}` }, signal: controller.signal });
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        onState(true);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut: number;
          while ((cut = buffer.indexOf('\n\n')) !== -1) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (data) onEvent(event, JSON.parse(data) as unknown);
          }
        }
      } catch {
        /* connection lost: fall through to the retry */
      }
      onState(false);
      if (!stopped) await new Promise((r) => setTimeout(r, 2000));
    }
  };
  void run();
  return () => {
    stopped = true;
    controller?.abort();
  };
}
