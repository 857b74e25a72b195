// `/docs`: the API reference (RapiDoc, a web component), bundled from npm and served by the
// binary like the rest of the console, reading the server's own /openapi.json. Nothing comes
// from a CDN. RapiDoc rather than Scalar: 213 KB of gzipped JavaScript against 874 KB, which
// keeps this page within the console's 250 KB first-paint budget.

import 'rapidoc';

const dark = document.documentElement.getAttribute('data-theme') === 'dark';
const doc = document.createElement('rapi-doc');
const attributes: Record<string, string> = {
  'spec-url': '/openapi.json',
  theme: dark ? 'dark' : 'light',
  'bg-color': dark ? '#0e1117' : '#ffffff',
  'text-color': dark ? '#e8ebf2' : '#161a23',
  'primary-color': dark ? '#8b98ff' : '#3a4bd6',
  'nav-bg-color': dark ? '#161b24' : '#eef0f6',
  'nav-text-color': dark ? '#e8ebf2' : '#161a23',
  'nav-hover-bg-color': dark ? '#1e2430' : '#d5d9e3',
  'render-style': 'focused',
  'show-header': 'false',
  'allow-server-selection': 'false',
  'allow-authentication': 'true',
  'persist-auth': 'false',
  'regular-font': 'system-ui, sans-serif',
  'mono-font': 'ui-monospace, Menlo, Consolas, monospace',
  'load-fonts': 'false',
  'schema-description-expanded': 'true',
};
for (const [name, value] of Object.entries(attributes)) doc.setAttribute(name, value);
document.getElementById('reference')?.replaceWith(doc);
