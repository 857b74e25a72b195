/// <reference types="vitest/config" />
// The console's build: two pages (the app and the API reference at /docs), hashed assets under
// assets/, written where orrery-server's build script asks (ORRERY_CONSOLE_OUT) or to dist/.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const root = fileURLToPath(new URL('.', import.meta.url));
const examples = fileURLToPath(new URL('../../examples/graphs', import.meta.url));
const api = process.env.ORRERY_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: process.env.ORRERY_CONSOLE_OUT ?? 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Source maps stay out of the binary.
    sourcemap: false,
    chunkSizeWarningLimit: 4000,
    // The chunk graph, for scripts/bundle-size.mjs; not embedded in the binary.
    manifest: process.env.BUNDLE_REPORT === '1',
    rolldownOptions: {
      input: {
        index: `${root}index.html`,
        docs: `${root}docs.html`,
      },
    },
  },
  server: {
    fs: { allow: [root, examples] },
    proxy: {
      '/api': api,
      '/openapi.json': api,
    },
  },
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
  },
});
