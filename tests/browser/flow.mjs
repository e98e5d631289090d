// A person in headless Chromium: signs up, registers applications, then in a
// fresh browser follows the seed's authorization URL and the standard one
// with PKCE, through login and consent, to the callback. Prints one JSON line
// with the codes it received, for tests/tests/browser.rs to redeem.
//
// Usage: node flow.mjs GATEWAY_URL SCREENSHOT_DIR
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { assert, launchChromium } from './chromium.mjs';

const [gateway, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });

// Flags for a machine without network: no background requests, no sandbox (root).
const browser = await launchChromium();


async function shot(page, name) {
  await page.setViewportSize({ width: 960, height: 720 });
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

// The client applications' callbacks: answered in the browser, as the
// machine has no network.
async function newContext(locale) {
  const context = await browser.newContext({ locale, viewport: { width: 960, height: 720 } });
  await context.route('https://app.example/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>app callback</h1>' }));
  await context.route('http://127.0.0.1:5555/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>native app callback</h1>' }));
  return context;
}

const username = 'browser-user';
const password = 'a long enough password';

// 1. Sign up and register two applications.
const owner = await newContext('en-US');
let page = await owner.newPage();
await page.goto(`${gateway}/signup`);
await shot(page, 'signup');
await page.fill('#username', username);
await page.fill('#email', 'browser@example.com');
await page.fill('#password', password);
await page.click('button[type=submit]');
await page.waitForURL(`${gateway}/account/applications`);
await page.goto(`${gateway}/account/applications/new`);
await page.fill('#name', 'Demo App');
await page.fill('#description', 'Shows your profile on app.example');
await page.fill('#homepage_url', 'https://app.example');
await page.fill('#redirect_uris', 'https://app.example/callback');
await shot(page, 'application-new');
await page.click('button[type=submit]');
const clientId = (await page.textContent('#client-id')).trim();
const secret = (await page.textContent('#new-secret')).trim();
assert(secret.startsWith('gcs_'), 'the new secret is shown once');
await shot(page, 'application-created');

await page.goto(`${gateway}/account/applications/new`);
await page.fill('#name', 'Demo CLI');
await page.fill('#redirect_uris', 'http://127.0.0.1/callback');
await page.check('input[name=public]');
await page.click('button[type=submit]');
const publicId = (await page.textContent('#client-id')).trim();
await page.goto(`${gateway}/account/applications`);
await shot(page, 'applications');

// 2. A fresh browser follows the seed's URL: login, consent, callback.
const user = await newContext('en-US');
page = await user.newPage();
const seedUrl = `${gateway}/oauth_authorize.html?client_id=${clientId}&redirect_uri=${encodeURIComponent('https://app.example/callback')}&response_type=code&scope=user&state=s`;
await page.goto(seedUrl);
assert(new URL(page.url()).pathname === '/login', `sent to log in, got ${page.url()}`);
await shot(page, 'login');
await page.fill('#username', username);
await page.fill('#password', password);
await page.click('button[type=submit]');
await page.waitForSelector('button[value=approve]');
const consentText = await page.textContent('main');
assert(consentText.includes('Demo App'), 'consent names the application');
assert(consentText.includes('Read your public profile'), 'consent describes the scope');
await shot(page, 'consent');
await page.click('button[value=approve]');
await page.waitForURL(/^https:\/\/app\.example\/callback\?/);
const seedCallback = new URL(page.url());
assert(seedCallback.searchParams.get('state') === 's', 'state comes back');

// 3. The standard URL with PKCE, for the public client on a loopback port.
const verifier = 'browser-test-verifier-' + 'x'.repeat(40);
const challenge = createHash('sha256').update(verifier).digest('base64url');
const pkceUrl = `${gateway}/oauth/authorize?client_id=${publicId}&redirect_uri=${encodeURIComponent('http://127.0.0.1:5555/callback')}&response_type=code&scope=user&state=p&code_challenge=${challenge}&code_challenge_method=S256`;
await page.goto(pkceUrl);
await page.waitForSelector('button[value=approve]');
await page.click('button[value=approve]');
await page.waitForURL(/^http:\/\/127\.0\.0\.1:5555\/callback\?/);
const pkceCallback = new URL(page.url());
assert(pkceCallback.searchParams.get('state') === 'p', 'state comes back');
await page.goto(`${gateway}/account/authorizations`);
await shot(page, 'authorizations');

// 4. The same consent page in Chinese, chosen by Accept-Language.
const zh = await newContext('zh-CN');
page = await zh.newPage();
await page.goto(`${gateway}/oauth/authorize?client_id=${clientId}&response_type=code&scope=user,project`);
await page.fill('#username', username);
await page.fill('#password', password);
await page.click('button[type=submit]');
await page.waitForSelector('button[value=approve]');
const zhText = await page.textContent('main');
assert(zhText.includes('授权应用') && zhText.includes('读取你的项目'), 'consent page in Chinese shows the new scope');
await shot(page, 'consent-zh');

await browser.close();
console.log(JSON.stringify({
  seed: { client_id: clientId, code: seedCallback.searchParams.get('code'), iss: seedCallback.searchParams.get('iss') },
  pkce: { client_id: publicId, code: pkceCallback.searchParams.get('code'), verifier },
}));
