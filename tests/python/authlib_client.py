"""An OAuth client that is not ours: Python Authlib, configured only from
Gatehouse's RFC 8414 metadata. It runs the code flow with PKCE (the user's
login and consent are played by a plain requests session, as a browser
would), calls current_user, refreshes, introspects and revokes.

Usage: authlib_client.py GATEWAY CLIENT_ID CLIENT_SECRET USERNAME PASSWORD
"""
import html as html_entities
import re
import secrets
import sys

import requests
from authlib.integrations.requests_client import OAuth2Session

CALLBACK = "https://app.example/callback"


def field(html: str, name: str) -> str:
    match = re.search(r'name="%s" value="([^"]*)"' % re.escape(name), html)
    if not match:
        raise SystemExit(f"no {name} in page: {html[:500]}")
    return html_entities.unescape(match.group(1))


def user_approves(gateway: str, authorize_url: str, username: str, password: str) -> str:
    """Plays the user in a browser: login, consent; returns the callback URL."""
    browser = requests.Session()
    first = browser.get(authorize_url, allow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/login"), first.text
    login = browser.get(gateway + first.headers["location"])
    signed_in = browser.post(
        gateway + "/login",
        data={"csrf_token": field(login.text, "csrf_token"), "next": field(login.text, "next"), "username": username, "password": password},
        allow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text
    consent = browser.get(gateway + signed_in.headers["location"], allow_redirects=False)
    assert consent.status_code == 200, consent.text
    decided = browser.post(
        gateway + "/oauth/authorize/decision",
        data={"csrf_token": field(consent.text, "csrf_token"), "request_id": field(consent.text, "request_id"), "decision": "approve"},
        allow_redirects=False,
    )
    assert decided.status_code == 303, decided.text
    return decided.headers["location"]


def main() -> None:
    gateway, client_id, client_secret, username, password = sys.argv[1:6]
    meta = requests.get(gateway + "/.well-known/oauth-authorization-server").json()
    assert "S256" in meta["code_challenge_methods_supported"]
    client = OAuth2Session(
        client_id,
        client_secret,
        scope="user",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = secrets.token_urlsafe(48)
    url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    callback = user_approves(gateway, url, username, password)
    token = client.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert token["token_type"].lower() == "bearer" and token["refresh_token"], token

    me = client.get(gateway + "/api/current_user").json()
    assert me["code"] == 0 and me["data"]["username"] == username, me

    refreshed = client.refresh_token(meta["token_endpoint"])
    assert refreshed["refresh_token"] != token["refresh_token"], "refresh tokens rotate"

    active = client.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"]).json()
    assert active["active"] is True and active["client_id"] == client_id, active

    revoked = client.revoke_token(meta["revocation_endpoint"], token=refreshed["refresh_token"], token_type_hint="refresh_token")
    assert revoked.status_code == 200, revoked.text
    inactive = client.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"]).json()
    assert inactive == {"active": False}, inactive
    print("authlib ok")


if __name__ == "__main__":
    main()
