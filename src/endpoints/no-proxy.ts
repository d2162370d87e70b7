import { BlockList, isIP } from 'node:net';

/**
 * `NO_PROXY` / `no_proxy`: which hosts are reached directly even though a proxy variable is set.
 *
 * Entries are separated by commas or white space, case-insensitive:
 * - `*` alone: no host is proxied;
 * - `example.com`, `.example.com` and `*.example.com`: that domain and every name under it (the leading dot or
 *   star is ignored, as curl does);
 * - an IP address (`10.1.2.3`, `::1`) or a CIDR range (`10.0.0.0/8`, `fd00::/8`): hosts written as such an
 *   address (names are not resolved to decide, as in curl and Go);
 * - any of these with `:port` (`[::1]:8443` for IPv6): only that port.
 */
export class NoProxy {
  private all = false;
  private readonly domains: { name: string; port: number | undefined }[] = [];
  private readonly ranges: { list: BlockList; port: number | undefined }[] = [];

  constructor(readonly raw: string) {
    for (const entry of raw.toLowerCase().split(/[\s,]+/)) {
      if (entry === '') continue;
      if (entry === '*') {
        this.all = true;
        continue;
      }
      const { host, port } = splitPort(entry);
      if (host === '') continue;
      const range = addressRange(host);
      if (range) {
        this.ranges.push({ list: range, port });
        continue;
      }
      const name = host.replace(/^\*?\.+/, '').replace(/\.$/, '');
      if (name !== '') this.domains.push({ name, port });
    }
  }

  /** True when `host` (a name or an IP literal, IPv6 without brackets) on `port` must be reached directly. */
  matches(host: string, port: number): boolean {
    if (this.all) return true;
    const h = host.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
    const family = isIP(h);
    if (family !== 0) {
      const type = family === 4 ? 'ipv4' : 'ipv6';
      return this.ranges.some((r) => (r.port === undefined || r.port === port) && r.list.check(h, type));
    }
    return this.domains.some((d) => (d.port === undefined || d.port === port) && (h === d.name || h.endsWith(`.${d.name}`)));
  }
}

/** `host:port`, `[v6]:port`, `[v6]`, a bare IPv6 address (its colons are not a port) or a plain host. */
function splitPort(entry: string): { host: string; port: number | undefined } {
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']');
    if (close < 0) return { host: entry.slice(1), port: undefined };
    const rest = entry.slice(close + 1);
    return { host: entry.slice(1, close), port: rest.startsWith(':') ? portOf(rest.slice(1)) : undefined };
  }
  // One colon: `host:port` or `10.0.0.0/8:443`; more: an IPv6 address or range, whose colons are not a port.
  const colons = entry.split(':').length - 1;
  if (colons === 1) {
    const i = entry.indexOf(':');
    return { host: entry.slice(0, i), port: portOf(entry.slice(i + 1)) };
  }
  return { host: entry, port: undefined };
}

function portOf(s: string): number | undefined {
  const n = /^\d{1,5}$/.test(s) ? Number(s) : NaN;
  return n >= 0 && n <= 65535 ? n : undefined;
}

function addressRange(host: string): BlockList | undefined {
  const slash = host.indexOf('/');
  const address = slash < 0 ? host : host.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return undefined;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  if (slash < 0) {
    list.addAddress(address, type);
    return list;
  }
  const prefix = Number(host.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) return undefined;
  list.addSubnet(address, prefix, type);
  return list;
}
