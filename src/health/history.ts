import type { CheckResult } from './check.js';
import type { HistoryPoint } from '../shared/api-types.js';

/**
 * A compact health history per endpoint for the dashboard: every state change (pass ↔ fail) plus periodic
 * samples, in a ring of fixed size, so it never grows without bound however long the proxy runs.
 */
export type { HistoryPoint };

export const HISTORY_CAPACITY = 500;

export class HealthHistory {
  private readonly points = new Map<string, HistoryPoint[]>();

  add(endpointId: string, r: CheckResult, score: number | undefined): void {
    const list = this.points.get(endpointId) ?? [];
    const previous = list.findLast((p) => p.model === r.model);
    list.push({ at: r.at, model: r.model, ok: r.ok, ttft_ms: r.ttft_ms, score: score ?? null, error: r.error, change: previous !== undefined && previous.ok !== r.ok });
    if (list.length > HISTORY_CAPACITY) {
      // Drop the oldest plain sample, keeping state changes as long as possible.
      const i = list.findIndex((p) => !p.change);
      list.splice(i === -1 ? 0 : i, 1);
    }
    this.points.set(endpointId, list);
  }

  of(endpointId: string): readonly HistoryPoint[] {
    return this.points.get(endpointId) ?? [];
  }
}
