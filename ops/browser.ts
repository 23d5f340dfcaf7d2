import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/**
 * The Chromium shipped in the npm package @sparticuz/chromium, unpacked into the cache by
 * scripts/provision.sh (`npm test` runs it): the same browser on every machine, no system package.
 */
export function chromiumPath(): string {
  // The package exports no package.json: read from where npm put it.
  const manifest = path.resolve(import.meta.dirname, '../node_modules/@sparticuz/chromium/package.json');
  const version = JSON.parse(fs.readFileSync(manifest, 'utf8')).version as string;
  const cache = process.env.HERALD_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'herald');
  const binary = process.env.CHROMIUM_PATH ?? path.join(cache, `chromium-${version}`, 'chromium');
  if (!fs.existsSync(binary)) throw new Error(`no Chromium at ${binary}: run bash scripts/provision.sh chromium (or set CHROMIUM_PATH)`);
  return binary;
}

/** Headless, nothing fetched behind the test's back; playwright gives each browser a fresh profile directory. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
