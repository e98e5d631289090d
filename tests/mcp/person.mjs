// The person at the browser, for the MCP tests' scripts (agent.mjs here,
// ../mcp-conformance/run.mjs): headless Chromium launched the same way, and
// one sign-in-and-approve on Gatehouse's pages. No imports of its own, so
// each script brings its own playwright-core.

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// Opens `url`, signs in when the login page comes, approves on the consent
// page, and waits for the redirect to `callback` (a RegExp). Returns the
// consent page's text and the URL the browser was sent back to.
export async function signInAndApprove(context, url, username, password, callback) {
  const page = await context.newPage();
  await page.goto(url);
  if (new URL(page.url()).pathname === '/login') {
    await page.fill('#username', username);
    await page.fill('#password', password);
    await page.click('button[type=submit]');
  }
  await page.waitForSelector('button[value=approve]');
  const consent = await page.textContent('main');
  await page.click('button[value=approve]');
  await page.waitForURL(callback);
  const returned = new URL(page.url());
  await page.close();
  return { consent, returned };
}
