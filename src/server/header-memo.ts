/**
 * Header names (as sent and lower-cased) and values remembered by their position in the last head read. A
 * client — or an upstream answering it — writes the same headers in the same order every time, most with the
 * same values (Claude Code: 21 request lines, ~17 unchanged from turn to turn). A name or value compared in place
 * with the one at its position last time is reused instead of being sliced out again, lower-cased, and (for a
 * name) hashed again as a property key.
 */
export class HeaderMemo {
  private readonly sentNames: string[] = [];
  private readonly names: string[] = [];
  private readonly values: string[] = [];

  /** The lower-cased name between `start` and `end` (the colon) of `text`, the `position`th line of its head. */
  name(text: string, start: number, end: number, position: number): string {
    const sent = this.sentNames[position];
    if (sent !== undefined && sent.length === end - start && text.startsWith(sent, start)) return this.names[position]!;
    const fresh = text.slice(start, end);
    const name = fresh.toLowerCase();
    this.sentNames[position] = fresh;
    this.names[position] = name;
    return name;
  }

  /** The value between `start` (after the colon) and `end`, without the spaces and tabs around it. */
  value(text: string, start: number, end: number, position: number): string {
    while (start < end && isBlank(text.charCodeAt(start))) start++;
    while (end > start && isBlank(text.charCodeAt(end - 1))) end--;
    const known = this.values[position];
    if (known !== undefined && known.length === end - start && text.startsWith(known, start)) return known;
    const value = text.slice(start, end);
    this.values[position] = value;
    return value;
  }
}

/** HTTP's optional whitespace around a field value: spaces and tabs (RFC 9110 §5.6.3). */
function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}
