// An MCP agent built on the official TypeScript SDK (@modelcontextprotocol/sdk,
// unchanged), pointed at an MCP server that Gatehouse protects, with nothing
// registered by hand. It connects, gets 401, discovers Gatehouse from the
// challenge and the protected resource metadata, registers (by its client ID
// metadata document, or by dynamic registration), sends the person to the
// authorization URL (headless Chromium logs in and approves), exchanges the
// code with PKCE and `resource`, lists and calls a tool, refreshes, and
// checks that a revoked token is refused. Prints one JSON line of what it saw,
// for tests/tests/mcp.rs to check against Gatehouse.
//
// Usage: node agent.mjs MCP_URL MODE(cimd|dcr) USERNAME PASSWORD [CIMD_URL] [offline]
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, signInAndApprove } from './person.mjs';

const [mcpUrl, mode, username, password, cimdUrl, offline] = process.argv.slice(2);
const callbackPort = 40000 + Math.floor(Math.random() * 20000);
// Registered without a port where the client can (the metadata document):
// Gatehouse matches loopback redirects on any port (RFC 8252 §7.3).
const redirectUrl = `http://127.0.0.1:${callbackPort}/callback`;

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: CHROMIUM_ARGS,
});
const context = await browser.newContext({ locale: 'en-US' });
await context.route(`http://127.0.0.1:${callbackPort}/**`, (route) =>
  route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>agent callback</h1>' }));

const seen = { mode, authorization_urls: [], consent: '' };

// The person at the browser: logs in (the first time) and approves.
async function approve(url) {
  const { consent, returned } = await signInAndApprove(context, url.href, username, password,
    /^http:\/\/127\.0\.0\.1:\d+\/callback\?/);
  seen.consent = consent;
  return returned;
}

// The SDK's storage, in memory: what an agent keeps between runs.
class Provider {
  constructor() {
    this.client = undefined;
    this.saved = undefined;
    this.verifier = undefined;
    this.callback = undefined;
    if (mode === 'cimd') this.clientMetadataUrl = cimdUrl;
  }
  get redirectUrl() { return redirectUrl; }
  get clientMetadata() {
    return {
      client_name: 'Gatehouse MCP test agent',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() { return this.client; }
  saveClientInformation(info) { this.client = info; }
  tokens() { return this.saved; }
  saveTokens(tokens) { this.saved = tokens; }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
  async redirectToAuthorization(url) {
    if (offline === 'offline') {
      // What SDK v2 does by itself when the server lists offline_access and
      // the client has the refresh_token grant (determineScope): ask for it,
      // with prompt=consent so that the person sees it.
      url.searchParams.set('scope', `${url.searchParams.get('scope') ?? ''} offline_access`.trim());
      url.searchParams.set('prompt', 'consent');
    }
    seen.authorization_urls.push(url.href);
    this.callback = await approve(url);
  }
}

const provider = new Provider();

async function connected() {
  const client = new Client({ name: 'gatehouse-test-agent', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
  return client;
}

// 1. No token: 401, discovery, registration, authorization in the browser.
let client;
try {
  client = await connected();
  throw new Error('connected without authorizing');
} catch (error) {
  if (!(error instanceof UnauthorizedError)) throw error;
}
const callback = provider.callback;
assert(callback, 'the agent was sent to authorize');
seen.iss = callback.searchParams.get('iss');
const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
await transport.finishAuth(callback.searchParams.get('code'));
seen.client_id = provider.client.client_id;
seen.registered = provider.client;
seen.first_tokens = { ...provider.saved };

// 2. Authorized: initialize, list the tools, call one.
client = await connected();
seen.tools = (await client.listTools()).tools.map((t) => t.name);
const call = await client.callTool({ name: 'whoami', arguments: {} });
seen.whoami = JSON.parse(call.content[0].text);
await client.close();

// 3. A refresh: the access token is rejected (here: forgotten), the SDK
// refreshes with its refresh token (sending `resource` again) and retries.
if (provider.saved.refresh_token) {
  const before = { ...provider.saved };
  provider.saved = { ...provider.saved, access_token: 'gat_forgotten' };
  client = await connected();
  const again = await client.callTool({ name: 'whoami', arguments: {} });
  seen.whoami_after_refresh = JSON.parse(again.content[0].text);
  seen.refreshed = provider.saved.access_token !== before.access_token && provider.saved.access_token !== 'gat_forgotten';
  seen.refresh_rotated = provider.saved.refresh_token !== before.refresh_token;
  await client.close();
}

// 4. A revoked token is refused by the MCP server.
const token = provider.saved.access_token;
const metadata = await (await fetch(new URL('/.well-known/oauth-authorization-server', seen.iss))).json();
const revoke = await fetch(metadata.revocation_endpoint, {
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({ token, client_id: seen.client_id }),
});
seen.revoke_status = revoke.status;
const refused = await fetch(mcpUrl, {
  method: 'POST',
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
});
seen.revoked_status = refused.status;
seen.revoked_challenge = refused.headers.get('www-authenticate');
seen.last_access_token = token;

await browser.close();
console.log(JSON.stringify(seen));
