// A person in headless Chromium turns on two-step sign-in: the security
// page's QR code and key, the authenticator app's first code (computed
// here with node's own HMAC, RFC 6238), the recovery codes; then signs in
// again in a fresh browser with the app's code, and in another with a
// recovery code, which works only once. Prints one JSON line for
// tests/tests/browser.rs.
//
// Usage: node two_step.mjs GATEWAY_URL SCREENSHOT_DIR USERNAME PASSWORD
import { mkdirSync } from 'node:fs';
import { assert, launchChromium } from './chromium.mjs';
import { totp } from './otp.mjs';

const [gateway, shots, username, password] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });

const browser = await launchChromium();


async function signIn(context, code) {
  const page = await context.newPage();
  await page.goto(`${gateway}/account/authorizations`);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForSelector('#code');
  assert(new URL(page.url()).pathname === '/login', `the second step follows the password, at ${page.url()}`);
  await page.fill('#code', code);
  await page.click('button[type=submit]');
  await page.waitForLoadState();
  return page;
}

const owner = await browser.newContext({ locale: 'en-US', viewport: { width: 960, height: 720 } });
let page = await owner.newPage();
await page.goto(`${gateway}/login`);
await page.fill('#username', username);
await page.fill('#password', password);
await page.click('button[type=submit]');
await page.waitForURL(`${gateway}/account/applications`);
await page.goto(`${gateway}/account/authorizations`);
await page.click('a[href="/account/security"]');
await page.fill('input[name=password]', password);
await page.click('button[type=submit]');
await page.waitForSelector('#totp-secret');
assert(await page.locator('.qr svg').count() === 1, 'a QR code is drawn');
await page.screenshot({ path: `${shots}/two-step-setup.png`, fullPage: true });
const secret = (await page.textContent('#totp-secret')).trim();
await page.fill('#code', totp(secret));
await page.click('button[type=submit]');
await page.waitForSelector('#recovery-codes');
const recovery = (await page.locator('#recovery-codes code').allTextContents()).map((c) => c.trim());
assert(recovery.length === 10, `ten recovery codes, got ${recovery.length}`);
await page.reload();
assert(!(await page.content()).includes(recovery[0]), 'recovery codes are shown once');

// A fresh browser: password, then the app's next code (the current step was just used).
const phone = await browser.newContext({ locale: 'en-US' });
page = await signIn(phone, totp(secret, 1));
assert(new URL(page.url()).pathname === '/account/authorizations', `signed in with the app, at ${page.url()}`);

// Lost phone: a recovery code, once.
const laptop = await browser.newContext({ locale: 'zh-CN' });
page = await signIn(laptop, recovery[0]);
assert(new URL(page.url()).pathname === '/account/authorizations', `signed in with a recovery code, at ${page.url()}`);
const again = await browser.newContext({ locale: 'en-US' });
page = await signIn(again, recovery[0]);
assert(new URL(page.url()).pathname === '/login/verify', `a used recovery code is refused, at ${page.url()}`);
assert((await page.textContent('.error')).includes('not right'), 'and says so');

await browser.close();
console.log(JSON.stringify({ secret_length: secret.length, recovery: recovery.length }));
