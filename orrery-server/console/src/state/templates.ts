// A preview of a mail template in the browser: each `{{ variable }}` (with any filters) becomes
// a sample value and `{% … %}` tags are dropped. The server renders with minijinja; this is a
// close enough picture to edit by, and the server checks the template when it is saved.

const SAMPLES: Record<string, string> = {
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  plan: 'pro',
  trial_ends_at: 'December 31, 2026',
  expires_in_minutes: '60',
  days_remaining: '3',
};

export function sampleValue(variable: string, origin: string): string {
  if (variable in SAMPLES) return SAMPLES[variable] ?? variable;
  if (variable.endsWith('_url')) return `${origin}/${variable.replace(/_url$/, '').replace(/_/g, '-')}`;
  return `[${variable}]`;
}

/** Renders `template` with sample values; `escape` HTML-escapes them (the HTML part). */
export function previewTemplate(template: string, origin: string, escape: boolean): string {
  return template
    .replace(/\{%-?[\s\S]*?-?%\}/g, '')
    .replace(/\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)[^}]*?-?\}\}/g, (_m, variable: string) => {
      const v = sampleValue(variable, origin);
      return escape ? escapeHtml(v) : v;
    });
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
