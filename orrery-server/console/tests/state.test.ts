import { describe, expect, it } from 'vitest';
import { rangeFor, share } from '../src/state/usage';
import { parsePreference, resolveTheme } from '../src/state/theme';
import { previewTemplate } from '../src/state/templates';
import { locationText } from '../src/components/Diagnostics';
import { safeNext } from '../src/pages/SignIn';

describe('usage history', () => {
  it('asks for 30 days, 12 weeks or 12 months ending today', () => {
    const today = new Date('2026-03-31T10:00:00Z');
    expect(rangeFor('day', today)).toEqual({ start_date: '2026-03-02', end_date: '2026-03-31' });
    expect(rangeFor('week', today)).toEqual({ start_date: '2026-01-13', end_date: '2026-03-31' });
    expect(rangeFor('month', today)).toEqual({ start_date: '2025-04-01', end_date: '2026-03-31' });
  });

  it('a limit share is capped and unlimited is empty', () => {
    expect(share(5, 10)).toBe(0.5);
    expect(share(15, 10)).toBe(1);
    expect(share(15, null)).toBe(0);
  });
});

describe('theme', () => {
  it('system follows the system; a stored choice wins; junk is system', () => {
    expect(resolveTheme('system', true)).toBe('dark');
    expect(resolveTheme('system', false)).toBe('light');
    expect(resolveTheme('light', true)).toBe('light');
    expect(parsePreference('dark')).toBe('dark');
    expect(parsePreference('purple')).toBe('system');
    expect(parsePreference(null)).toBe('system');
  });
});

describe('mail template preview', () => {
  it('fills variables with samples, escaping them in HTML, and drops tags', () => {
    const html = previewTemplate('<p>Hi {{ name }}, {% if x %}<a href="{{reset_url}}">reset</a>{% endif %} {{ other|upper }}</p>', 'https://o.example', true);
    expect(html).toBe('<p>Hi Ada Lovelace, <a href="https://o.example/reset">reset</a> [other]</p>');
    expect(previewTemplate('{{ name }} & co', 'x', false)).toBe('Ada Lovelace & co');
    expect(previewTemplate('{{ weird }}', 'x', true)).toBe('[weird]');
  });
});

describe('small rules', () => {
  it('diagnostic locations read like the CLI', () => {
    expect(locationText({ node: 'b', port: 'in' })).toBe('b.in');
    expect(locationText({ path: [{ node: 'billing', agent: 'x', version: 'sha256:1' }], node: 'c' })).toBe('billing/c');
    expect(locationText({ edge: 3 })).toBe('edges[3]');
    expect(locationText({})).toBe('graph');
  });

  it('sign-in only returns to paths of the console', () => {
    expect(safeNext('/keys?x=1')).toBe('/keys?x=1');
    expect(safeNext('//evil.example/')).toBe('/graphs');
    expect(safeNext('https://evil.example/')).toBe('/graphs');
    expect(safeNext(null)).toBe('/graphs');
  });
});
