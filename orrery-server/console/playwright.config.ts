// End-to-end tests: Debian's Chromium (never a downloaded browser) against a real
// `orrery serve` with its own data directory, the Stripe emulator and an SMTP sink, started by
// e2e/serve.sh.

import { defineConfig } from '@playwright/test';

const port = Number(process.env.E2E_PORT ?? 18480);

export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results',
  timeout: 120_000,
  expect: { timeout: 10_000 },
  workers: 1,
  fullyParallel: false,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
    trace: 'retain-on-failure',
  },
  webServer: {
    command: `sh e2e/serve.sh ${port}`,
    url: `http://127.0.0.1:${port}/healthz`,
    timeout: 120_000,
    reuseExistingServer: false,
    stdout: 'ignore',
    stderr: 'pipe',
    // SIGTERM, so serve.sh stops the emulator and the sink and removes its data directory.
    gracefulShutdown: { signal: 'SIGTERM', timeout: 10_000 },
  },
});
