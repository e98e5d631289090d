// Every page on a phone, in headless Chromium at 390 x 844, in English and
// in Chinese: nothing scrolls sideways, every link of the header is on the
// screen, and every input, select and button fits the width. Pages seen
// signed out (sign-in, sign-up, forgotten password, an error page), signed
// in (applications, one application and its edit form, tokens, resource
// servers, authorizations, security, sessions, security log, password,
// delete), and in the middle of a flow (consent, device entry).
// Prints one JSON line for tests/tests/browser.rs.
//
// Usage: node phone.mjs GATEWAY_URL SCREENSHOT_DIR USERNAME PASSWORD CLIENT_ID REDIRECT_URI
import { mkdirSync } from 'node:fs';
import { assert, launchChromium } from './chromium.mjs';

const [gateway, shots, username, password, clientId, redirectUri] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const WIDTH = 390;

const browser = await launchChromium();


// What does not fit a phone on the page now: [] when everything does.
async function misfits(page) {
  return page.evaluate((width) => {
    const problems = [];
    const sideways = document.documentElement.scrollWidth - document.documentElement.clientWidth;
    if (sideways > 0) problems.push(`the page scrolls ${sideways} px sideways`);
    for (const link of document.querySelectorAll('header a, header button')) {
      const box = link.getBoundingClientRect();
      const style = getComputedStyle(link);
      if (box.width === 0 || box.left < 0 || box.right > width) problems.push(`header ${link.textContent.trim()} off screen`);
      if (style.color === getComputedStyle(link.parentElement).backgroundColor) problems.push(`header ${link.textContent.trim()} invisible`);
    }
    for (const field of document.querySelectorAll('main input:not([type=hidden]), main select, main textarea, main button')) {
      const box = field.getBoundingClientRect();
      // Inside a table, which scrolls within its card on a phone, the card is the limit.
      if (field.closest('table')) continue;
      if (box.width > 0 && (box.left < 0 || box.right > width)) problems.push(`${field.tagName.toLowerCase()} ${field.name || field.textContent.trim()} is ${Math.round(box.right)} px wide`);
    }
    return problems;
  }, WIDTH);
}

const seen = [];
async function check(page, what, locale) {
  const problems = await misfits(page);
  await page.screenshot({ path: `${shots}/phone-${locale}-${what.replace(/[^a-z0-9]+/gi, '-')}.png`, fullPage: true });
  assert(problems.length === 0, `${what} (${locale}) on a phone: ${problems.join('; ')}`);
  seen.push(`${locale} ${what}`);
}

for (const locale of ['en-US', 'zh-CN']) {
  const context = await browser.newContext({ locale, viewport: { width: WIDTH, height: 844 }, isMobile: true });
  const page = await context.newPage();
  for (const [what, path] of [
    ['sign-in', '/login'],
    ['sign-up', '/signup'],
    ['forgotten password', '/password/forgot'],
    ['error page', '/oauth/authorize?client_id=nobody&response_type=code'],
  ]) {
    await page.goto(`${gateway}${path}`);
    await check(page, what, locale);
  }
  await page.goto(`${gateway}/login`);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('form[action="/login"] button[type=submit]');
  await page.waitForLoadState();
  for (const [what, path] of [
    ['applications', '/account/applications'],
    ['new application', '/account/applications/new'],
    ['application', `/account/applications/${clientId}`],
    ['application edit', `/account/applications/${clientId}/edit`],
    ['tokens', '/account/tokens'],
    ['resource servers', '/account/resource-servers'],
    ['authorizations', '/account/authorizations'],
    ['security', '/account/security'],
    ['sessions', '/account/sessions'],
    ['security log', '/account/security-log'],
    ['password', '/account/password'],
    ['delete account', '/account/delete'],
    ['console overview', '/admin'],
    ['console users', '/admin/users'],
    ['console applications', '/admin/applications'],
    ['console resource servers', '/admin/resource-servers'],
    ['console registration tokens', '/admin/registration-tokens'],
    ['console signing keys', '/admin/keys'],
    ['console audit trail', '/admin/audit'],
    ['device entry', '/login/device'],
    ['consent', `/oauth/authorize?client_id=${clientId}&response_type=code&scope=user&state=s&redirect_uri=${encodeURIComponent(redirectUri)}`],
  ]) {
    const answer = await page.goto(`${gateway}${path}`);
    assert(answer.status() === 200, `${what} answered ${answer.status()} at ${page.url()}`);
    await check(page, what, locale);
  }
  await context.close();
}
await browser.close();
console.log(JSON.stringify({ pages: seen.length }));
