// Usage as the pages want it: the range the history asks for, and how full a limit is. The
// server lists every period of the range (zeros included), cut as it buckets them.

import type { Granularity } from '../api/types';

/** `YYYY-MM-DD` of a UTC date. */
export function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
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
