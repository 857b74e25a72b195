// Prints, for each page, the JavaScript and CSS its first paint needs, gzipped: the entry with
// its static imports, plus the page's lazy chunk with its static imports. Run after
// `BUNDLE_REPORT=1 npx vite build`.

import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const dist = process.argv[2] ?? 'dist';
const manifest = JSON.parse(readFileSync(`${dist}/.vite/manifest.json`, 'utf8'));

function closure(key, seen = new Set()) {
  if (seen.has(key)) return seen;
  seen.add(key);
  for (const dep of manifest[key]?.imports ?? []) closure(dep, seen);
  return seen;
}

function size(keys) {
  let js = 0;
  let css = 0;
  const files = new Set();
  for (const key of keys) {
    const chunk = manifest[key];
    files.add(chunk.file);
    for (const c of chunk.css ?? []) files.add(c);
  }
  for (const f of files) {
    const n = gzipSync(readFileSync(`${dist}/${f}`), { level: 9 }).length;
    if (f.endsWith('.css')) css += n;
    else js += n;
  }
  return { js, css };
}

const entry = closure('index.html');
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const rows = [];
for (const [key, chunk] of Object.entries(manifest)) {
  if (!key.startsWith('src/pages/')) continue;
  const page = key.replace('src/pages/', '').replace('.tsx', '');
  const keys = new Set([...entry, ...(chunk.isDynamicEntry ? closure(key) : [])]);
  rows.push([page, size(keys)]);
}
const docs = size(closure('docs.html'));
rows.push(['/docs (API reference)', docs]);
console.log('page'.padEnd(24), 'JS gzip'.padStart(10), 'CSS gzip'.padStart(10));
for (const [page, { js, css }] of rows) console.log(page.padEnd(24), kb(js).padStart(10), kb(css).padStart(10));
