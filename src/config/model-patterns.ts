/**
 * Model names in the config may be patterns: an exact name, or a prefix ending in "*" ("claude-opus-*"). Used by an
 * endpoint's `models` and `model_map` and by a client key's `models`, so that a preset or a rule written today still
 * applies when Claude Code asks for next month's model.
 */

export function isPattern(name: string): boolean {
  return name.endsWith('*');
}

/** Does `model` match one of the entries (exact, or a prefix ending in "*")? */
export function matchesModel(patterns: readonly string[], model: string): boolean {
  for (const p of patterns) {
    if (isPattern(p) ? model.startsWith(p.slice(0, -1)) : model === p) return true;
  }
  return false;
}

/** The name a map gives `model`: its exact entry, else the entry of the longest prefix pattern it matches. */
export function mappedModel(map: Readonly<Record<string, string>>, model: string): string | undefined {
  const exact = map[model];
  if (exact !== undefined) return exact;
  let best: string | undefined;
  for (const key in map) {
    if (isPattern(key) && model.startsWith(key.slice(0, -1)) && (best === undefined || key.length > best.length)) best = key;
  }
  return best === undefined ? undefined : map[best];
}
