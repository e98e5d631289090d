// Recovery and review in headless Chromium, with mail received by a real
// SMTP server (aiosmtpd, started by tests/tests/browser.rs, writing each
// message to MAIL_DIR):
//  1. signed in on a phone and a laptop, the laptop's sessions page lists
//     both and signs the phone out;
//  2. the address is confirmed by the mailed link;
//  3. "Forgot your password?" mails a reset link, followed in a fresh
//     browser: the new password works, the old one does not, the laptop is
//     signed out, and the link does not work twice.
// Prints one JSON line for tests/tests/browser.rs.
//
// Usage: node recovery.mjs GATEWAY_URL SCREENSHOT_DIR USERNAME PASSWORD MAIL_DIR
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { assert, launchChromium } from './chromium.mjs';

const [gateway, shots, username, password, mailDir] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const newPassword = 'a brand new passphrase';

const browser = await launchChromium();

const path = (page) => new URL(page.url()).pathname;

// The `count`th message's link to `linkPath` (quoted-printable soft breaks undone).
async function mailedLink(count, linkPath) {
  for (let waited = 0; waited < 10_000; waited += 100) {
    const files = readdirSync(mailDir).filter((f) => f.endsWith('.eml')).sort();
    if (files.length >= count) {
      const text = readFileSync(`${mailDir}/${files[count - 1]}`, 'utf8')
        .replace(/=\r?\n/g, '').replace(/=3D/g, '=');
      const match = text.match(new RegExp(`https?://[^\\s"<>]*${linkPath}\\?token=[A-Za-z0-9_]+`));
      assert(match, `message ${count} links to ${linkPath}`);
      return match[0];
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`message ${count} did not arrive`);
}

async function signIn(locale, secret) {
  const context = await browser.newContext({ locale, viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  await page.goto(`${gateway}/login`);
  await page.fill('#username', username);
  await page.fill('#password', secret);
  await page.click('form[action="/login"] button[type=submit]');
  await page.waitForLoadState();
  return page;
}

// 1. Two browsers; the laptop ends the phone's session.
const phone = await signIn('zh-CN', password);
assert(path(phone) === '/account/applications', `the phone signed in, at ${phone.url()}`);
const laptop = await signIn('en-US', password);
await laptop.goto(`${gateway}/account/sessions`);
const rows = await laptop.locator('main tbody tr').count();
assert(rows === 2, `two sessions listed, got ${rows}`);
await laptop.screenshot({ path: `${shots}/sessions.png`, fullPage: true });
const sideways = await laptop.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
assert(sideways <= 0, `the sessions page scrolls ${sideways} px sideways at 390 px`);
await laptop.locator('main tbody form[action$="/sign-out"] button').first().click();
await laptop.waitForLoadState();
await phone.goto(`${gateway}/account/authorizations`);
assert(path(phone) === '/login', `the phone was signed out, at ${phone.url()}`);
await laptop.goto(`${gateway}/account/authorizations`);
assert(path(laptop) === '/account/authorizations', 'the laptop stays signed in');

// 2. The address confirmed by the mailed link.
await laptop.goto(`${gateway}/account/security`);
await laptop.click('form[action="/account/email/send-verification"] button');
await laptop.waitForLoadState();
await laptop.goto(await mailedLink(1, '/account/email/verify'));
await laptop.click('form[action="/account/email/verify"] button');
await laptop.waitForSelector('#email-verified');

// 3. A reset link, followed in a fresh browser.
const stranger = await browser.newContext({ locale: 'en-US', viewport: { width: 390, height: 844 } });
const forgot = await stranger.newPage();
await forgot.goto(`${gateway}/login`);
await forgot.click('a[href="/password/forgot"]');
await forgot.fill('#login', username);
await forgot.click('form[action="/password/forgot"] button');
await forgot.waitForSelector('#reset-sent');
const reset = await mailedLink(2, '/password/reset');
await forgot.goto(reset);
await forgot.fill('#new_password', newPassword);
await forgot.click('form[action="/password/reset"] button');
await forgot.waitForSelector('#reset-done');
await laptop.goto(`${gateway}/account/authorizations`);
assert(path(laptop) === '/login', `a reset signs every browser out, the laptop is at ${laptop.url()}`);
const old = await signIn('en-US', password);
assert(path(old) === '/login', 'the old password no longer signs in');
const renewed = await signIn('en-US', newPassword);
assert(path(renewed) === '/account/applications', `the new password signs in, at ${renewed.url()}`);
// The link works once.
await forgot.goto(reset);
const again = await forgot.locator('#new_password').count();
if (again > 0) {
  await forgot.fill('#new_password', 'yet another passphrase');
  await forgot.click('form[action="/password/reset"] button');
  await forgot.waitForLoadState();
}
assert(await forgot.locator('#reset-done').count() === 0, 'a used link resets nothing');

await browser.close();
console.log(JSON.stringify({ sessions: rows, mails: readdirSync(mailDir).filter((f) => f.endsWith('.eml')).length }));
