// `/docs`: the API reference (Scalar), bundled from npm and served by the binary like the rest
// of the console, reading the server's own /openapi.json. No CDN, no fonts from elsewhere.

import { createApiReference } from '@scalar/api-reference';
import '@scalar/api-reference/style.css';

const dark = document.documentElement.getAttribute('data-theme') === 'dark';

createApiReference('#reference', {
  url: '/openapi.json',
  withDefaultFonts: false,
  darkMode: dark,
  hideDarkModeToggle: false,
  telemetry: false,
  metaData: { title: 'Orrery API reference' },
});
