// Usage history as a chart wants it: every period of the range, zero where the API reports no
// calls (it lists only periods with calls). Periods start on the day, the ISO week's Monday or
// the first of the month, in UTC, as the server buckets them.

import type { Granularity, UsageHistory } from '../api/types';

/** `YYYY-MM-DD` of a UTC date. */
export function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function parseDay(s: string): Date {
  return new Date(`${s}T00:00:00Z`);
}

/** The start of the period `day` falls in. */
export function periodStart(day: Date, granularity: Granularity): Date {
  const d = new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate()));
  if (granularity === 'week') d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  if (granularity === 'month') d.setUTCDate(1);
  return d;
}

function nextPeriod(d: Date, granularity: Granularity): Date {
  const n = new Date(d);
  if (granularity === 'day') n.setUTCDate(n.getUTCDate() + 1);
  else if (granularity === 'week') n.setUTCDate(n.getUTCDate() + 7);
  else n.setUTCMonth(n.getUTCMonth() + 1);
  return n;
}

/** Every period from the range's start to its end with its calls. */
export function fillHistory(h: UsageHistory): { periods: string[]; calls: number[] } {
  const byPeriod = new Map(h.history.map((b) => [b.period_start, b.api_calls]));
  const end = parseDay(h.end_date);
  const periods: string[] = [];
  const calls: number[] = [];
  for (let d = periodStart(parseDay(h.start_date), h.granularity); d <= end; d = nextPeriod(d, h.granularity)) {
    const key = isoDay(d);
    periods.push(key);
    calls.push(byPeriod.get(key) ?? 0);
  }
  return { periods, calls };
}

/** The range the history page asks for, ending today. */
export function rangeFor(granularity: Granularity, today: Date): { start_date: string; end_date: string } {
  const start = new Date(today);
  if (granularity === 'day') start.setUTCDate(start.getUTCDate() - 29);
  else if (granularity === 'week') start.setUTCDate(start.getUTCDate() - 7 * 11);
  else start.setUTCMonth(start.getUTCMonth() - 11, 1);
  return { start_date: isoDay(start), end_date: isoDay(today) };
}

/** How full a limit is, 0 to 1 (0 when unlimited). */
export function share(value: number, limit: number | null | undefined): number {
  if (limit === null || limit === undefined || limit <= 0) return 0;
  return Math.min(1, value / limit);
}
