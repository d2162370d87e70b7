import { maskProxyUrl, withoutPassword } from '../shared/proxy-url.js';

/**
 * Proxy URLs may carry a password (`http://user:pass@proxy:3128`), a secret like a key: every listing shows it
 * masked (`user:***@`), an export without secrets leaves it out (`user@`), and a masked or password-less form
 * sent back (a dashboard form saved unchanged, such an export imported) keeps the password already there.
 */

/** What listings show; `direct` and unset pass through. */
export function shownProxy(setting: string | undefined): string | undefined {
  return setting === undefined || setting === 'direct' ? setting : maskProxyUrl(setting);
}

/** What an export without secrets holds. */
export function exportedProxy(setting: string | undefined): string | undefined {
  return setting === undefined || setting === 'direct' ? setting : withoutPassword(setting);
}

/**
 * The setting to keep when `incoming` replaces `current`: `current` itself when `incoming` is only its masked
 * or password-less form, so the password is never lost nor replaced by `***`.
 */
export function keepProxySecret(incoming: string | undefined, current: string | undefined): string | undefined {
  if (incoming === undefined || current === undefined || incoming === current) return incoming;
  if (incoming === maskProxyUrl(current) || incoming === withoutPassword(current)) return current;
  return incoming;
}
