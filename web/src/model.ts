// Dashboard state: per-tenant counts, the latest eggs and the live rate.
// Pure data; no DOM. Applying a message is O(1) so 1,000 msgs/s stay cheap.

import type { Counts, ModelAccuracy, Prediction, Stats } from './types.js';

export const LATEST_ROWS = 25;
const RATE_WINDOW_MS = 5000;
const RATE_BUCKET_MS = 250;

export function emptyCounts(): Counts {
  return { total: 0, female: 0, male: 0, keep: 0, divert: 0, recheck: 0 };
}

/** Milliseconds since the epoch of an RFC 3339 timestamp with up to 9 fractional digits; NaN if malformed. */
export function parseRfc3339Ms(text: string | undefined): number {
  if (!text) return NaN;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!m) return NaN;
  const whole = Date.parse(`${m[1]}${m[3]}`);
  const fraction = m[2] ? Number(`0${m[2]}`) : 0;
  return whole + fraction * 1000;
}

/** captured_at -> inferred_at in ms, or NaN when a stamp is missing. */
export function latencyMs(p: Prediction): number {
  return parseRfc3339Ms(p.times?.inferred_at) - parseRfc3339Ms(p.times?.captured_at);
}

export class DashboardModel {
  readonly tenants = new Map<string, Counts>();
  /** Live accuracy per tenant, by model version, from the last /v1/stats snapshot. */
  readonly accuracy = new Map<string, ModelAccuracy[]>();
  /** Newest first, at most LATEST_ROWS. */
  latest: Prediction[] = [];
  private readonly buckets = new Array<number>(RATE_WINDOW_MS / RATE_BUCKET_MS).fill(0);
  private bucketStart = 0;

  /** Replaces every count with a /v1/stats snapshot. */
  resetFromStats(stats: Stats): void {
    this.tenants.clear();
    this.accuracy.clear();
    for (const t of stats.tenants) {
      this.accuracy.set(t.tenant_id, t.accuracy ?? []);
      this.tenants.set(t.tenant_id, {
        total: t.total, female: t.female, male: t.male, keep: t.keep, divert: t.divert, recheck: t.recheck,
      });
    }
  }

  apply(p: Prediction, nowMs: number): void {
    let c = this.tenants.get(p.tenant_id);
    if (!c) {
      c = emptyCounts();
      this.tenants.set(p.tenant_id, c);
    }
    c.total++;
    if (p.sex === 'SEX_FEMALE') c.female++;
    else if (p.sex === 'SEX_MALE') c.male++;
    if (p.decision === 'DECISION_KEEP') c.keep++;
    else if (p.decision === 'DECISION_DIVERT') c.divert++;
    else if (p.decision === 'DECISION_RECHECK') c.recheck++;
    this.latest.unshift(p);
    if (this.latest.length > LATEST_ROWS) this.latest.length = LATEST_ROWS;
    this.advance(nowMs);
    this.buckets[this.buckets.length - 1]! += 1;
  }

  /** Live messages per second over the last five seconds. */
  ratePerSecond(nowMs: number): number {
    this.advance(nowMs);
    let sum = 0;
    for (const b of this.buckets) sum += b;
    return sum / (RATE_WINDOW_MS / 1000);
  }

  overall(): Counts {
    const sum = emptyCounts();
    for (const c of this.tenants.values()) {
      sum.total += c.total; sum.female += c.female; sum.male += c.male;
      sum.keep += c.keep; sum.divert += c.divert; sum.recheck += c.recheck;
    }
    return sum;
  }

  private advance(nowMs: number): void {
    const bucket = Math.floor(nowMs / RATE_BUCKET_MS);
    if (this.bucketStart === 0) this.bucketStart = bucket;
    const shift = Math.min(bucket - this.bucketStart, this.buckets.length);
    for (let i = 0; i < shift; i++) {
      this.buckets.shift();
      this.buckets.push(0);
    }
    if (shift > 0) this.bucketStart = bucket;
  }
}
