// The admin console in headless Chromium, in two runs of this script:
//
// first: someone without the administrator role is refused every console
//   page (and sees no Admin link); the administrator follows the Admin link,
//   visits every section (screenshots, English and Chinese), finds the
//   target account, opens it and disables it: the target's browser is signed
//   out at once. A form posted without its CSRF token is refused. The
//   administrator's browser state is saved to STATE_FILE.
// stale (after tests/tests/browser.rs moved the clock 16 minutes on): the
//   same browser's *Enable* sends the administrator to sign in again, back
//   to the users page; sent again, it enables the account.
//
// Prints one JSON line for tests/tests/browser.rs.
//
// Usage: node console.mjs GATEWAY_URL SCREENSHOT_DIR ADMIN PASSWORD PHASE STATE_FILE TARGET STRANGER
import { mkdirSync } from 'node:fs';
import { assert, launchChromium } from './chromium.mjs';

const [gateway, shots, admin, password, phase, stateFile, target, stranger] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });

const SECTIONS = ['/admin', '/admin/users', '/admin/applications', '/admin/resource-servers',
  '/admin/registration-tokens', '/admin/keys', '/admin/audit'];

const browser = await launchChromium();
const path = (page) => new URL(page.url()).pathname;

async function signIn(context, username) {
  const page = await context.newPage();
  await page.goto(`${gateway}/login`);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('form[action="/login"] button[type=submit]');
  await page.waitForLoadState();
  assert(path(page) === '/account/applications', `${username} signed in, at ${page.url()}`);
  return page;
}

const desktop = { viewport: { width: 1280, height: 900 } };
const result = { phase };

if (phase === 'first') {
  // The target, signed in on their own browser.
  const targetContext = await browser.newContext({ locale: 'en-US', ...desktop });
  const targetPage = await signIn(targetContext, target);

  // Someone without the role: no link, and every page refused.
  const strangerContext = await browser.newContext({ locale: 'en-US', ...desktop });
  const strangerPage = await signIn(strangerContext, stranger);
  assert(await strangerPage.locator('header a[href="/admin"]').count() === 0, 'no Admin link for a stranger');
  for (const section of SECTIONS) {
    const response = await strangerPage.goto(`${gateway}${section}`);
    assert(response.status() === 403, `${section} refuses a non-administrator, got ${response.status()}`);
  }
  result.refused = SECTIONS.length;

  // The administrator: the header's link, then every section.
  const context = await browser.newContext({ locale: 'en-US', ...desktop });
  const page = await signIn(context, admin);
  await page.click('header a[href="/admin"]');
  await page.waitForLoadState();
  assert(path(page) === '/admin', `the Admin link opens the overview, at ${page.url()}`);
  for (const section of SECTIONS) {
    const response = await page.goto(`${gateway}${section}`);
    assert(response.status() === 200, `${section} answers an administrator, got ${response.status()}`);
    const current = await page.locator('nav.tabs a[aria-current=page]').getAttribute('href');
    assert(current === section, `${section} marks its own tab, not ${current}`);
    const name = section === '/admin' ? 'overview' : section.slice('/admin/'.length);
    await page.screenshot({ path: `${shots}/console-${name}.png`, fullPage: true });
  }
  const chinese = await browser.newContext({ locale: 'zh-CN', ...desktop, storageState: await context.storageState() });
  const zh = await chinese.newPage();
  await zh.goto(`${gateway}/admin`);
  assert((await zh.locator('h1').first().textContent()) === '概览', 'the console speaks Chinese');
  await zh.screenshot({ path: `${shots}/console-overview-zh.png`, fullPage: true });

  // Find the target, open their page, disable them.
  await page.goto(`${gateway}/admin/users`);
  await page.fill('#q', target.slice(0, 4).toUpperCase());
  await page.click('form.search button');
  await page.waitForLoadState();
  await page.click(`#users a:text-is("${target}")`);
  await page.waitForLoadState();
  assert(path(page).startsWith('/admin/users/'), `the account's page, at ${page.url()}`);
  const sessions = await page.locator('#sessions tbody tr').count();
  assert(sessions >= 1, `the target's sessions are listed, got ${sessions}`);
  await page.screenshot({ path: `${shots}/console-user.png`, fullPage: true });
  const userPath = path(page);

  // The form without its CSRF token (removed from the page): refused, nothing changed.
  await page.evaluate((action) => {
    document.querySelector(`form[action="${action}"] input[name=csrf_token]`).remove();
  }, `${userPath}/disable`);
  const [forged] = await Promise.all([
    page.waitForNavigation(),
    page.click(`form[action="${userPath}/disable"] button`),
  ]);
  assert(forged.status() === 403, `a POST without the CSRF token is refused, got ${forged.status()}`);
  await page.goto(`${gateway}${userPath}`);
  await targetPage.goto(`${gateway}/account/applications`);
  assert(path(targetPage) === '/account/applications', 'the target is still signed in');

  await page.click(`form[action="${userPath}/disable"] button`);
  await page.waitForLoadState();
  assert(await page.locator(`form[action="${userPath}/enable"]`).count() === 1, 'shown disabled');
  await targetPage.goto(`${gateway}/account/applications`);
  assert(path(targetPage) === '/login', `the target's session ended, at ${targetPage.url()}`);
  result.disabled = userPath.slice('/admin/users/'.length);
  await context.storageState({ path: stateFile });
} else {
  // Sixteen minutes later: a change needs the password again.
  const context = await browser.newContext({ locale: 'en-US', ...desktop, storageState: stateFile });
  const page = await context.newPage();
  await page.goto(`${gateway}/admin/users?q=${encodeURIComponent(target)}`);
  assert(path(page) === '/admin/users', `still signed in, at ${page.url()}`);
  await page.click('#users form[action$="/enable"] button');
  await page.waitForLoadState();
  const login = new URL(page.url());
  assert(login.pathname === '/login' && login.searchParams.get('reauthenticate') === '1', `sign in again, at ${page.url()}`);
  assert(login.searchParams.get('next') === '/admin/users', `and back to the users page: ${page.url()}`);
  assert((await page.inputValue('#username')) === admin, 'the username is filled in');
  await page.fill('#password', password);
  await page.click('form[action="/login"] button[type=submit]');
  await page.waitForLoadState();
  assert(path(page) === '/admin/users', `back at the users page, at ${page.url()}`);
  await page.goto(`${gateway}/admin/users?q=${encodeURIComponent(target)}`);
  await page.click('#users form[action$="/enable"] button');
  await page.waitForLoadState();
  assert(await page.locator('#users form[action$="/disable"]').count() === 1, 'enabled again');
  result.enabled = true;
}

await browser.close();
console.log(JSON.stringify(result));
