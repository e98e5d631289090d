"""An OpenID Connect relying party that is not ours: Python Authlib,
configured only from Gatehouse's OpenID Connect discovery document. It runs
the code flow with PKCE and a nonce, verifies the ID token against the JWKS
with Authlib's CodeIDToken rules (signature, iss, aud, exp, nonce, at_hash),
calls UserInfo three ways (GET, POST with the header, POST with the token in
the body), refreshes and verifies the new ID token (same sub, auth_time),
and logs out through the end-session endpoint.

Usage: authlib_oidc.py GATEWAY CLIENT_ID CLIENT_SECRET USERNAME PASSWORD
"""
import secrets
import sys
import warnings

import requests
from authlib.integrations.requests_client import OAuth2Session

warnings.filterwarnings("ignore", category=DeprecationWarning)
from authlib.jose import JsonWebKey, jwt  # noqa: E402
from authlib.oidc.core import CodeIDToken  # noqa: E402

from authlib_client import CALLBACK, user_approves  # noqa: E402


def verify(id_token: str, jwks: dict, issuer: str, client_id: str, nonce, access_token: str) -> dict:
    keys = JsonWebKey.import_key_set(jwks)
    claims = jwt.decode(
        id_token,
        keys,
        claims_cls=CodeIDToken,
        claims_options={"iss": {"values": [issuer]}, "aud": {"values": [client_id]}},
        claims_params={"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    claims.validate()
    return dict(claims)


def main() -> None:
    gateway, client_id, client_secret, username, password = sys.argv[1:6]
    meta = requests.get(gateway + "/.well-known/openid-configuration").json()
    issuer = meta["issuer"]
    assert issuer == gateway, (issuer, gateway)
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    jwks = requests.get(meta["jwks_uri"]).json()
    client = OAuth2Session(
        client_id,
        client_secret,
        scope="openid profile email",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, _state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    callback = user_approves(gateway, url, username, password)
    token = client.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    claims = verify(token["id_token"], jwks, issuer, client_id, nonce, token["access_token"])
    assert claims["preferred_username"] == username, claims
    sub = claims["sub"]

    bearer = {"Authorization": "Bearer " + token["access_token"]}
    got = requests.get(meta["userinfo_endpoint"], headers=bearer).json()
    posted = requests.post(meta["userinfo_endpoint"], headers=bearer).json()
    in_body = requests.post(meta["userinfo_endpoint"], data={"access_token": token["access_token"]}).json()
    assert got == posted == in_body and got["sub"] == sub and "email" in got, (got, posted, in_body)
    assert client.get(meta["userinfo_endpoint"]).json()["sub"] == sub

    refreshed = client.refresh_token(meta["token_endpoint"])
    again = verify(refreshed["id_token"], jwks, issuer, client_id, None, refreshed["access_token"])
    assert again["sub"] == sub and again["auth_time"] == claims["auth_time"], (claims, again)
    assert "nonce" not in again, again

    # RP-initiated logout: the ID token as the hint, back to a registered URI with the state.
    logout = requests.get(
        meta["end_session_endpoint"],
        params={"id_token_hint": refreshed["id_token"], "post_logout_redirect_uri": CALLBACK, "state": "bye"},
        allow_redirects=False,
    )
    assert logout.status_code == 303 and logout.headers["location"] == CALLBACK + "?state=bye", logout.text
    print("authlib oidc ok")


if __name__ == "__main__":
    main()
