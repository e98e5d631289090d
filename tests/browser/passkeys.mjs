// Passkeys in headless Chromium, with the DevTools protocol's virtual
// authenticator (CTAP2, resident keys, user verification) standing in for a
// phone or a security key:
//  1. a signed-in person adds a passkey on the security page;
//  2. another browser holding the same passkey signs in with it alone, and
//     the same answer posted again is refused (the ceremony is single use);
//  3. with two-step sign-in on, a password sign-in takes the passkey as its
//     second step;
//  4. a copy with an older signature counter (a cloned authenticator) and an
//     authenticator that cannot verify the user sign nobody in;
//  5. once removed on the security page, the passkey signs nobody in.
// Prints one JSON line for tests/tests/browser.rs.
//
// Usage: node passkeys.mjs GATEWAY_URL SCREENSHOT_DIR USERNAME PASSWORD
import { mkdirSync } from 'node:fs';
import { assert, launchChromium } from './chromium.mjs';
import { totp } from './otp.mjs';

const [gateway, shots, username, password] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });

const browser = await launchChromium();


const path = (page) => new URL(page.url()).pathname;

// A page in a fresh browser with a virtual authenticator holding `credentials`.
async function deviceWith(credentials, { verified = true, locale = 'en-US' } = {}) {
  const context = await browser.newContext({ locale, viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: verified, automaticPresenceSimulation: true,
    },
  });
  for (const credential of credentials) {
    await cdp.send('WebAuthn.addCredential', { authenticatorId, credential });
  }
  return { context, page, cdp, authenticatorId };
}

async function passkeySignIn(page) {
  await page.goto(`${gateway}/account/authorizations`);
  assert(path(page) === '/login', `signed out at first, at ${page.url()}`);
  await page.click('#passkey-sign-in button');
  // Done when the answer was posted (another page) or the ceremony failed (Try again enabled).
  await page.waitForFunction(() => location.pathname !== '/login/passkey'
    || document.getElementById('passkey-retry')?.disabled === false);
  await page.waitForLoadState();
}

// 1. Password sign-in, then a passkey added on the security page.
const owner = await deviceWith([]);
let page = owner.page;
await page.goto(`${gateway}/login`);
await page.fill('#username', username);
await page.fill('#password', password);
await page.click('form[action="/login"] button[type=submit]');
await page.waitForURL(`${gateway}/account/applications`);
await page.goto(`${gateway}/account/security`);
await page.fill('#passkey-name', 'Test laptop');
await page.click('#add-passkey button[type=submit]');
await page.waitForSelector('#passkeys');
assert((await page.textContent('#passkeys')).includes('Test laptop'), 'the passkey is listed by name');
assert(path(page) === '/account/passkeys', `the answer was posted, at ${page.url()}`);
await page.screenshot({ path: `${shots}/passkeys.png`, fullPage: true });
// On a phone (390 px wide): nothing scrolls sideways, every link of the header is on the screen.
const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
assert(sideways <= 0, `the security page scrolls ${sideways} px sideways at 390 px`);
for (const link of await page.locator('header a').all()) {
  const box = await link.boundingBox();
  assert(box && box.x >= 0 && box.x + box.width <= 390, `${await link.textContent()} is on the screen: ${JSON.stringify(box)}`);
}
const { credentials } = await owner.cdp.send('WebAuthn.getCredentials', { authenticatorId: owner.authenticatorId });
assert(credentials.length === 1 && credentials[0].isResidentCredential, 'one discoverable credential was made');

// 2. Another browser with the same passkey signs in with it alone.
const phone = await deviceWith(credentials, { locale: 'zh-CN' });
let finish;
phone.page.on('request', (request) => {
  if (request.method() === 'POST' && new URL(request.url()).pathname === '/login/passkey/finish') {
    finish = request.postData();
  }
});
await passkeySignIn(phone.page);
assert(path(phone.page) === '/account/authorizations', `signed in with the passkey alone, at ${phone.page.url()}`);
assert(finish && finish.includes('credential='), 'the ceremony page posted the browser\'s answer');
// The same answer again: the ceremony was used.
const replay = await phone.context.request.post(`${gateway}/login/passkey/finish`, {
  data: finish, headers: { 'content-type': 'application/x-www-form-urlencoded' }, maxRedirects: 0,
});
assert(replay.status() === 401, `a replayed answer is refused, got ${replay.status()}`);

// The passkey as the phone holds it now: its signature counter moved on.
const exported = async (device) =>
  (await device.cdp.send('WebAuthn.getCredentials', { authenticatorId: device.authenticatorId })).credentials;
let latest = await exported(phone);
assert(latest[0].signCount > credentials[0].signCount, 'the phone\'s counter moved on');

// 3. Two-step sign-in on; a password sign-in takes the passkey as its second step.
await page.goto(`${gateway}/account/security`);
await page.fill('form[action="/account/security/totp"] input[name=password]', password);
await page.click('form[action="/account/security/totp"] button[type=submit]');
await page.waitForSelector('#totp-secret');
await page.fill('#code', totp((await page.textContent('#totp-secret')).trim()));
await page.click('form[action="/account/security/totp/confirm"] button[type=submit]');
await page.waitForSelector('#recovery-codes');
const laptop = await deviceWith(latest);
await laptop.page.goto(`${gateway}/login`);
await laptop.page.fill('#username', username);
await laptop.page.fill('#password', password);
await laptop.page.click('form[action="/login"] button[type=submit]');
await laptop.page.waitForSelector('#code');
await laptop.page.click('#second-step-passkey button');
await laptop.page.waitForURL(`${gateway}/account/applications`);
latest = await exported(laptop);

// A copy of the passkey from before (its counter behind the last one seen): a cloned authenticator, refused.
const clone = await deviceWith(credentials);
await passkeySignIn(clone.page);
assert(path(clone.page) === '/login/passkey/finish', `a counter that went back is refused, at ${clone.page.url()}`);

// 4. An authenticator that cannot verify the user: no session.
const careless = await deviceWith(latest, { verified: false });
await passkeySignIn(careless.page);
await careless.page.goto(`${gateway}/account/authorizations`);
assert(path(careless.page) === '/login', `no user verification, no session: at ${careless.page.url()}`);

// 5. Removed on the security page: the passkey signs nobody in.
await page.goto(`${gateway}/account/security`);
await page.click('#passkeys button.danger');
await page.waitForSelector('.ok');
assert(await page.locator('#passkeys').count() === 0, 'no passkey is listed');
const stale = await deviceWith(latest);
await passkeySignIn(stale.page);
assert(path(stale.page) === '/login/passkey/finish', `the removed passkey is refused, at ${stale.page.url()}`);
assert((await stale.page.textContent('.error')).includes('not accepted'), 'and the page says so');

await browser.close();
console.log(JSON.stringify({ credentials: credentials.length, replay: replay.status() }));
