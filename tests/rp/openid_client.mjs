// openid-client (panva, npm) as an OpenID Connect relying party: discovery,
// code + PKCE + nonce + state (and RFC 9207 iss), the ID token's signature
// checked against the JWKS (enableNonRepudiationChecks), UserInfo, refresh,
// RP-initiated logout, a pushed authorization request (RFC 9126) and DPoP (RFC 9449). The user's login and consent are played with
// fetch and a cookie jar, as a browser would. Only loopback http is allowed
// (allowInsecureRequests): nothing else is configured by hand.
//
// Usage: node openid_client.mjs GATEWAY CLIENT_ID CLIENT_SECRET USERNAME PASSWORD
import assert from 'node:assert/strict';
import * as client from 'openid-client';

const [gateway, clientId, clientSecret, username, password] = process.argv.slice(2);
const CALLBACK = 'https://app.example/callback';

const jar = new Map();
async function browse(url, init = {}) {
  const headers = { ...(init.headers || {}), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
  const response = await fetch(new URL(url, gateway), { ...init, headers, redirect: 'manual' });
  for (const cookie of response.headers.getSetCookie()) {
    const [pair] = cookie.split(';');
    const at = pair.indexOf('=');
    jar.set(pair.slice(0, at), pair.slice(at + 1));
  }
  return response;
}
const field = (html, name) => {
  const match = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  assert.ok(match, `no ${name} in ${html.slice(0, 300)}`);
  // An attribute value as a browser reads it: named and numeric character references decoded.
  const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return match[1].replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref) => {
    if (ref[0] !== '#') return named[ref.toLowerCase()] ?? whole;
    return String.fromCodePoint(ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10));
  });
};
const form = (data) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(data).toString(),
});

// The authorization request without a session: the sign-in page, then back
// to the request; its answer (a consent page or the redirect to the client).
async function userSignsIn(authorizationUrl) {
  const first = await browse(authorizationUrl);
  assert.equal(first.status, 303);
  const login = await (await browse(first.headers.get('location'))).text();
  const signedIn = await browse('/login', form({
    csrf_token: field(login, 'csrf_token'), next: field(login, 'next'), username, password,
  }));
  assert.equal(signedIn.status, 303, await signedIn.text());
  return browse(signedIn.headers.get('location'));
}

async function userApproves(authorizationUrl) {
  const consent = await userSignsIn(authorizationUrl);
  assert.equal(consent.status, 200);
  const page = await consent.text();
  const decided = await browse('/oauth/authorize/decision', form({
    csrf_token: field(page, 'csrf_token'), request_id: field(page, 'request_id'), decision: 'approve',
  }));
  assert.equal(decided.status, 303);
  return decided.headers.get('location');
}

const config = await client.discovery(new URL(gateway), clientId, clientSecret, undefined, {
  execute: [client.allowInsecureRequests],
});
client.enableNonRepudiationChecks(config);
assert.equal(config.serverMetadata().issuer, gateway);

const codeVerifier = client.randomPKCECodeVerifier();
const nonce = client.randomNonce();
const state = client.randomState();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: CALLBACK,
  scope: 'openid profile email',
  code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
  code_challenge_method: 'S256',
  nonce,
  state,
});
const callback = await userApproves(url.href);
const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
  pkceCodeVerifier: codeVerifier, expectedNonce: nonce, expectedState: state,
});
const claims = tokens.claims();
assert.equal(claims.preferred_username, username);
assert.ok(claims.auth_time > 0);

const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
assert.equal(info.sub, claims.sub);
assert.ok(info.email);

const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
const again = refreshed.claims();
assert.equal(again.sub, claims.sub);
assert.equal(again.auth_time, claims.auth_time);

const end = client.buildEndSessionUrl(config, {
  id_token_hint: refreshed.id_token, post_logout_redirect_uri: CALLBACK, state: 'bye',
});
const loggedOut = await browse(end.href);
assert.equal(loggedOut.status, 303);
assert.equal(loggedOut.headers.get('location'), `${CALLBACK}?state=bye`);
const account = await browse('/account/applications');
assert.equal(account.status, 303, 'the session is over');

// Pushed authorization requests (RFC 9126): openid-client pushes the request
// (authenticated) and the browser carries only client_id and request_uri.
assert.equal(config.serverMetadata().pushed_authorization_request_endpoint, `${gateway}/oauth/par`);
const parVerifier = client.randomPKCECodeVerifier();
const parState = client.randomState();
const parUrl = await client.buildAuthorizationUrlWithPAR(config, {
  redirect_uri: CALLBACK,
  scope: 'openid profile',
  code_challenge: await client.calculatePKCECodeChallenge(parVerifier),
  code_challenge_method: 'S256',
  state: parState,
});
assert.deepEqual([...parUrl.searchParams.keys()].sort(), ['client_id', 'request_uri']);
// Signed out above: sign in again; the consent given before covers the request.
const parCallback = await userSignsIn(parUrl.href);
assert.equal(parCallback.status, 303, await parCallback.text());
const parTokens = await client.authorizationCodeGrant(config, new URL(parCallback.headers.get('location')), {
  pkceCodeVerifier: parVerifier, expectedState: parState,
});
assert.equal(parTokens.claims().sub, claims.sub);
const reused = await browse(parUrl.href);
assert.equal(reused.status, 400, 'a request_uri works once');

// DPoP (RFC 9449): openid-client binds the tokens to its key and presents
// them with proofs; a bound token presented as a bearer token is refused.
const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
const dpopVerifier = client.randomPKCECodeVerifier();
const dpopState = client.randomState();
const dpopUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: CALLBACK,
  scope: 'openid profile',
  code_challenge: await client.calculatePKCECodeChallenge(dpopVerifier),
  code_challenge_method: 'S256',
  state: dpopState,
});
const dpopCallback = await browse(dpopUrl.href);
assert.equal(dpopCallback.status, 303, 'signed in, consent covered');
const dpopTokens = await client.authorizationCodeGrant(config, new URL(dpopCallback.headers.get('location')), {
  pkceCodeVerifier: dpopVerifier, expectedState: dpopState,
}, undefined, { DPoP });
assert.equal(dpopTokens.token_type.toLowerCase(), 'dpop');
const dpopInfo = await client.fetchUserInfo(config, dpopTokens.access_token, claims.sub, { DPoP });
assert.equal(dpopInfo.sub, claims.sub);
const asBearer = await fetch(`${gateway}/oauth/userinfo`, { headers: { authorization: `Bearer ${dpopTokens.access_token}` } });
assert.equal(asBearer.status, 401, 'a DPoP-bound token is no bearer token');
const me = await client.fetchProtectedResource(
  config, dpopTokens.access_token, new URL(`${gateway}/oauth/userinfo`), 'POST', undefined, undefined, { DPoP },
);
assert.equal(me.status, 200, await me.text());
const dpopRefreshed = await client.refreshTokenGrant(config, dpopTokens.refresh_token, undefined, { DPoP });
assert.equal(dpopRefreshed.token_type.toLowerCase(), 'dpop');
console.log('openid-client ok');
