// The MCP enterprise-managed authorization flow's second leg, with libraries
// that are not ours: `jose` (panva) signs an Identity Assertion JWT
// Authorization Grant (ID-JAG) as an enterprise identity provider would, and
// `openid-client` (panva) trades it at Gatehouse with the jwt-bearer grant
// (genericGrantRequest), once bearer and once DPoP-bound (the ID-JAG's
// cnf.jkt names the client's DPoP key, under DPoP server nonces: the first
// try is refused with use_dpop_nonce and openid-client retries with the
// nonce). The token is the user's; a replayed ID-JAG and one bound to
// another key are refused with invalid_grant. The agent then exchanges the
// user's token (RFC 8693) and introspects the result, both through
// openid-client.
//
// Usage: node id_jag.mjs GATEWAY CLIENT_ID CLIENT_SECRET IDP_ISSUER IDP_KEY_PKCS8_PEM USER_ID USERNAME
import assert from 'node:assert/strict';
import * as jose from 'jose';
import * as client from 'openid-client';

const [gateway, clientId, clientSecret, idp, pem, userId, username] = process.argv.slice(2);
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const idpKey = await jose.importPKCS8(pem, 'ES256');

async function idJag(extra = {}) {
  return new jose.SignJWT({ client_id: clientId, aud_sub: userId, scope: 'user', ...extra })
    .setProtectedHeader({ alg: 'ES256', typ: 'oauth-id-jag+jwt', kid: 'idp1' })
    .setIssuer(idp)
    .setSubject('00u-enterprise-user')
    .setAudience(gateway)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(idpKey);
}

const config = await client.discovery(new URL(gateway), clientId, clientSecret, undefined, {
  execute: [client.allowInsecureRequests],
});
const metadata = config.serverMetadata();
assert.ok(metadata.grant_types_supported.includes(JWT_BEARER));
assert.deepEqual(metadata.authorization_grant_profiles_supported, ['urn:ietf:params:oauth:grant-profile:id-jag']);

const assertion = await idJag();
const tokens = await client.genericGrantRequest(config, JWT_BEARER, { assertion });
assert.equal(tokens.token_type.toLowerCase(), 'bearer');
assert.equal(tokens.scope, 'user');
assert.equal(tokens.refresh_token, undefined, 'no refresh token: the agent asks its provider again');
const me = await client.fetchProtectedResource(config, tokens.access_token, new URL(`${gateway}/api/current_user`), 'GET');
assert.equal(me.status, 200);
assert.equal((await me.json()).data.username, username);

// The agent passes the user's token on, narrowed and naming itself as the
// actor: token exchange (RFC 8693) through openid-client, checked by
// introspection (RFC 7662) through openid-client.
const exchanged = await client.genericGrantRequest(config, 'urn:ietf:params:oauth:grant-type:token-exchange', {
  subject_token: tokens.access_token,
  subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
  scope: 'user',
});
assert.equal(exchanged.issued_token_type, 'urn:ietf:params:oauth:token-type:access_token');
const introspected = await client.tokenIntrospection(config, exchanged.access_token);
assert.equal(introspected.active, true);
assert.equal(introspected.username, username);
assert.deepEqual(introspected.act, { sub: clientId });

await assert.rejects(client.genericGrantRequest(config, JWT_BEARER, { assertion }), (error) => {
  assert.equal(error.error, 'invalid_grant', 'an ID-JAG is single use');
  return true;
});

// Bound to the client's DPoP key: the token is DPoP-bound to it, and a proof
// of any other key is refused.
const keyPair = await client.randomDPoPKeyPair('ES256');
const jkt = await jose.calculateJwkThumbprint(await jose.exportJWK(keyPair.publicKey));
const DPoP = client.getDPoPHandle(config, keyPair);
const bound = await client.genericGrantRequest(config, JWT_BEARER, { assertion: await idJag({ cnf: { jkt } }) }, { DPoP });
assert.equal(bound.token_type.toLowerCase(), 'dpop');
const boundMe = await client.fetchProtectedResource(
  config, bound.access_token, new URL(`${gateway}/api/current_user`), 'GET', undefined, undefined, { DPoP },
);
assert.equal(boundMe.status, 200);
const otherKey = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
await assert.rejects(
  client.genericGrantRequest(config, JWT_BEARER, { assertion: await idJag({ cnf: { jkt } }) }, { DPoP: otherKey }),
  (error) => {
    assert.equal(error.error, 'invalid_grant', 'a proof of another key');
    return true;
  },
);
console.log('id-jag ok');
