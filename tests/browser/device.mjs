// A person in headless Chromium completes a device authorization: opens the
// verification URI a CLI printed, signs in, checks the code, approves.
// tests/tests/browser.rs runs it while a CLI-like client polls the token
// endpoint; it prints one JSON line with what the pages showed.
//
// Usage: node device.mjs VERIFICATION_URI_COMPLETE SCREENSHOT_DIR USERNAME PASSWORD
import { mkdirSync } from 'node:fs';
import { assert, launchChromium } from './chromium.mjs';

const [verification, shots, username, password] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });

const browser = await launchChromium();


async function shot(page, name) {
  await page.setViewportSize({ width: 960, height: 720 });
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

const context = await browser.newContext({ locale: 'en-US', viewport: { width: 960, height: 720 } });
const page = await context.newPage();
// Signed out: the verification URI sends the person to sign in, then back.
await page.goto(verification);
assert(new URL(page.url()).pathname === '/login', `sent to log in, got ${page.url()}`);
await page.fill('#username', username);
await page.fill('#password', password);
await page.click('button[type=submit]');
await page.waitForURL((url) => url.pathname === '/login/device');
const typed = await page.inputValue('#user_code');
assert(typed.length === 9, `the code is filled in: ${typed}`);
await shot(page, 'device-entry');
await page.click('button[type=submit]');
await page.waitForSelector('button[value=approve]');
const confirm = await page.textContent('.card');
await shot(page, 'device-confirm');
await page.click('button[value=approve]');
await page.waitForSelector('h1');
const done = await page.textContent('h1');
await shot(page, 'device-done');

// The same person makes a personal access token for a script.
await page.goto(verification.replace(/\/login\/device.*$/, '/account/tokens'));
await page.fill('#name', 'deploy script');
await page.check('input[name=scope][value=user]');
await page.click('form[action="/account/tokens"] button[type=submit]');
await page.waitForSelector('#new-token');
const pat = (await page.textContent('#new-token')).trim();
assert(pat.startsWith('gpt_'), `a personal access token: ${pat}`);
await shot(page, 'personal-tokens');
await browser.close();
console.log(JSON.stringify({ typed, confirm, done, pat }));
