// Runs the MCP conformance suite's authorization-server scenarios
// (@modelcontextprotocol/conformance, unchanged, under the Node 22 that the
// `node` package installs) against Gatehouse, and plays the person at the
// browser when the suite asks for one: headless Chromium opens the
// authorization URL the suite prints, logs in and approves; Gatehouse then
// redirects to the suite's own callback server on 127.0.0.1:PORT.
// Prints one JSON line: the suite's exit status, every check it recorded
// (from its results folder) and the consent page's text.
//
// Usage: node run.mjs ISSUER CLIENT_ID RESOURCE PORT USERNAME PASSWORD OUT_DIR
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, signInAndApprove } from '../mcp/person.mjs';

const [issuer, clientId, resource, port, username, password, outDir] = process.argv.slice(2);
const here = new URL('.', import.meta.url).pathname;
const node22 = join(here, 'node_modules/node/bin/node');
const suite = join(here, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: CHROMIUM_ARGS,
});
const context = await browser.newContext({ locale: 'en-US' });
const seen = { authorization_urls: [], consent: '', log: '' };
let approving = Promise.resolve();

// The suite's callback server answers the redirect and closes.
async function approve(url) {
  const { consent } = await signInAndApprove(context, url, username, password,
    new RegExp(`^http://127\\.0\\.0\\.1:${port}/callback\\?`));
  seen.consent = consent;
}

const child = spawn(node22, [suite, 'authorization', '--url', issuer, '--client-id', clientId,
  '--resource', resource, '--port', port, '--output-dir', outDir], { stdio: ['ignore', 'pipe', 'pipe'] });
let pending = '';
const authorizeUrl = `${issuer.replace(/\/$/, '')}/oauth/authorize?`;
child.stdout.on('data', (chunk) => {
  const text = chunk.toString();
  seen.log += text;
  pending += text;
  const lines = pending.split('\n');
  pending = lines.pop();
  for (const line of lines) {
    if (line.startsWith(authorizeUrl)) {
      seen.authorization_urls.push(line.trim());
      approving = approving.then(() => approve(line.trim())).catch((error) => {
        // The suite would wait five minutes for a callback that cannot come.
        seen.browser_error = String(error);
        child.kill();
      });
    }
  }
});
child.stderr.on('data', (chunk) => { seen.log += chunk.toString(); });
const status = await new Promise((resolve) => child.on('close', (code) => resolve(code)));
await approving;
await browser.close();

// The suite writes each scenario's checks to a checks.json under OUT_DIR.
seen.exit = status;
seen.checks = [];
if (existsSync(outDir)) {
  for (const file of readdirSync(outDir, { recursive: true })) {
    if (!file.endsWith('checks.json')) continue;
    for (const check of JSON.parse(readFileSync(join(outDir, file), 'utf8'))) {
      seen.checks.push({ file, id: check.id, status: check.status, error: check.errorMessage ?? null });
    }
  }
}
console.log(JSON.stringify(seen));
