// What every browser script shares: Debian's Chromium, headless and quiet,
// driven by playwright-core, and the one assertion helper.
import { chromium } from 'playwright-core';

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
