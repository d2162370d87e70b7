import { describe, expect, it } from 'vitest';
import { statsSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import type { RequestRecord } from '../../src/proxy/events.js';
import { PriceTable } from '../../src/stats/pricing.js';
import { MAX_PENDING, StatsRecorder, type RowSink } from '../../src/stats/recorder.js';
import type { StoredRequest } from '../../src/stats/store.js';

/** The recorder in front of a database that goes away (PostgreSQL cut off): bounded buffer, counted drops, nothing lost before the bound. */

function record(i: number): RequestRecord {
  return {
    requestId: `req_${i}`, startedAt: 1_700_000_000_000 + i, method: 'POST', path: '/v1/messages', model: 'claude-haiku-4-5', stream: false,
    sessionId: undefined, endpointId: 'a', attempts: [{ endpointId: 'a', status: 200, ms: 5 }], status: 200, ttfbMs: 4, totalMs: 6,
    usage: undefined, end: 'complete', errorCode: undefined, healthCheck: false,
  };
}

class FlakySink implements RowSink {
  up = false;
  written: StoredRequest[] = [];
  attempts = 0;
  async insertMany(rows: readonly StoredRequest[]): Promise<void> {
    this.attempts++;
    await new Promise((r) => setTimeout(r, 1));
    if (!this.up) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    this.written.push(...rows);
  }
  prune(): number {
    return 0;
  }
}

describe('request log buffer', () => {
  it('keeps the first MAX_PENDING rows of an outage, counts the rest as dropped, and writes all it kept, in order, when the database returns', async () => {
    const sink = new FlakySink();
    const recorder = new StatsRecorder(sink, () => new PriceTable(), () => statsSchema.parse({ flush_ms: 1 }), silentLogger());
    recorder.requestFinished(record(0));
    await new Promise((r) => setTimeout(r, 20));
    expect(recorder.failing?.error).toMatch(/ECONNREFUSED/);
    const extra = 25;
    for (let i = 1; i < MAX_PENDING + extra; i++) recorder.requestFinished(record(i));
    expect(recorder.buffered).toBe(MAX_PENDING);
    expect(recorder.dropped).toBe(extra);
    sink.up = true;
    recorder.flush();
    await recorder.drain(10_000);
    expect(recorder.failing).toBeUndefined();
    expect(recorder.buffered).toBe(0);
    expect(sink.written).toHaveLength(MAX_PENDING);
    expect(sink.written.map((r) => r.request_id).slice(0, 3)).toEqual(['req_0', 'req_1', 'req_2']);
    expect(sink.written.at(-1)!.request_id).toBe(`req_${MAX_PENDING - 1}`);
    // Written in bounded batches, one at a time.
    expect(sink.attempts).toBeGreaterThan(MAX_PENDING / 10_000);
    recorder.close();
  });
});
