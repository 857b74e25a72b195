import { describe, expect, it } from 'vitest';
import { formatBytes } from '../src/components/ui';

describe('sizes', () => {
  it('are shown in the largest unit that keeps them at 1 or more', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1023)).toBe('1,023 B');
    expect(formatBytes(1024)).toBe('1 KB');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(12_345)).toBe('12 KB');
    expect(formatBytes(3 << 20)).toBe('3 MB');
    expect(formatBytes(64 << 20)).toBe('64 MB');
    expect(formatBytes(8 * 2 ** 30)).toBe('8 GB');
    expect(formatBytes(256 * 2 ** 30)).toBe('256 GB');
  });

  it('never round up to 1,024 of a unit, and stop at GB', () => {
    expect(formatBytes(1024 * 1024 - 1)).toBe('1 MB');
    expect(formatBytes(10 * 1024 - 1)).toBe('10 KB');
    expect(formatBytes(2048 * 2 ** 30)).toBe('2,048 GB');
  });
});
