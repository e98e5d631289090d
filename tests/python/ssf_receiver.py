#!/usr/bin/env python3
"""A Shared Signals receiver for Gatehouse, built only on libraries that are not Gatehouse's:
the standard library's HTTPS server, `requests`, and `joserfc` for JOSE.

It reads the transmitter's configuration (`/.well-known/ssf-configuration`), gets an
`ssf.manage` token with client_credentials, creates its stream (or reuses the one it has),
asks for a verification event and waits for it, then receives Security Event Tokens by push
(RFC 8935: an HTTPS endpoint answering 202, or 400 with `{err, description}`) or by poll
(RFC 8936: long polls that acknowledge what was received). Every SET is checked: `typ`
`secevent+jwt`, the signature against the transmitter's JWKS, `iss`, `aud`, exactly one event,
`sub_id` and no `sub` or `exp` (SSF 1.0 §4.1). Each SET received is written once (by `jti`) as
a JSON line to --out; a line {"ready": STREAM_ID} says the stream is verified.

    python3 ssf_receiver.py --issuer https://gatehouse.example --client-id ID \
        --client-secret SECRET --out events.jsonl --poll
    python3 ssf_receiver.py ... --push https://receiver.example/events --listen 8443 \
        --cert server.pem --key server.key
"""

import argparse
import http.server
import json
import secrets
import ssl
import sys
import threading
import time

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"
VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"
EVENTS = [
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
    "https://schemas.openid.net/secevent/caep/event-type/credential-change",
    "https://schemas.openid.net/secevent/risc/event-type/account-purged",
]


class Rejected(Exception):
    """A SET this receiver refuses, with RFC 8935's error code."""

    def __init__(self, err, description):
        super().__init__(description)
        self.err = err
        self.description = description


class Receiver:
    def __init__(self, args):
        self.args = args
        self.http = requests.Session()
        self.http.verify = args.ca or True
        self.lock = threading.Lock()
        self.seen = set()
        self.verified_state = None
        self.config = self.get_json(args.issuer.rstrip("/") + "/.well-known/ssf-configuration")
        if self.config["issuer"] != args.issuer.rstrip("/"):
            sys.exit("the configuration names another issuer")
        self.keys = None
        self.refresh_keys()
        self.token = None
        self.push_secret = "Bearer " + secrets.token_urlsafe(24)
        self.out = open(args.out, "a", encoding="utf-8")

    def get_json(self, url, **kwargs):
        answer = self.http.get(url, timeout=10, **kwargs)
        answer.raise_for_status()
        return answer.json()

    def refresh_keys(self):
        self.keys = KeySet.import_key_set(self.get_json(self.config["jwks_uri"]))

    def authorize(self):
        answer = self.http.post(
            self.args.issuer.rstrip("/") + "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "ssf.manage"},
            auth=(self.args.client_id, self.args.client_secret),
            timeout=10,
        )
        answer.raise_for_status()
        self.token = answer.json()["access_token"]

    def call(self, method, url, body=None, params=None, timeout=10):
        headers = {"Authorization": "Bearer " + self.token}
        answer = self.http.request(method, url, json=body, params=params, headers=headers, timeout=timeout)
        if answer.status_code == 401:
            self.authorize()
            headers = {"Authorization": "Bearer " + self.token}
            answer = self.http.request(method, url, json=body, params=params, headers=headers, timeout=timeout)
        for _ in range(10):
            # Too soon (429: a verification within min_verification_interval) or briefly
            # unavailable (503): wait as told, then ask again.
            if answer.status_code not in (429, 503):
                break
            time.sleep(float(answer.headers.get("Retry-After", "1")))
            answer = self.http.request(method, url, json=body, params=params, headers=headers, timeout=timeout)
        if answer.status_code >= 400:
            raise SystemExit(f"{method} {url}: HTTP {answer.status_code} {answer.text}")
        return answer.json() if answer.content else None

    def subscribe(self):
        self.authorize()
        endpoint = self.config["configuration_endpoint"]
        if self.args.push:
            delivery = {"method": PUSH, "endpoint_url": self.args.push, "authorization_header": self.push_secret}
        else:
            delivery = {"method": POLL}
        streams = self.call("GET", endpoint)
        if streams:
            # A restarted receiver takes its stream back (and tells the transmitter its new credential).
            stream = self.call("PATCH", endpoint, {"stream_id": streams[0]["stream_id"], "delivery": delivery})
        else:
            stream = self.call("POST", endpoint, {"delivery": delivery, "events_requested": EVENTS,
                                                  "description": "ssf_receiver.py"})
        self.stream = stream
        return stream

    def verify(self):
        state = secrets.token_urlsafe(12)
        self.call("POST", self.config["verification_endpoint"], {"stream_id": self.stream["stream_id"], "state": state})
        return state

    def check(self, value):
        """The SET's claims, or Rejected with the RFC 8935 error code."""
        try:
            header = json.loads(_b64(value.split(".")[0]))
        except (ValueError, IndexError):
            raise Rejected("invalid_request", "not a JWS")
        if header.get("typ") != "secevent+jwt":
            raise Rejected("invalid_request", "typ must be secevent+jwt")
        try:
            token = jwt.decode(value, self.keys, algorithms=["RS256", "ES256"])
        except JoseError:
            # Perhaps a key published since: fetch the JWKS once more.
            self.refresh_keys()
            try:
                token = jwt.decode(value, self.keys, algorithms=["RS256", "ES256"])
            except JoseError as error:
                raise Rejected("invalid_key", f"signature: {error}")
        claims = token.claims
        if claims.get("iss") != self.config["issuer"]:
            raise Rejected("invalid_issuer", "unexpected iss")
        aud = claims.get("aud")
        if aud != self.args.client_id and not (isinstance(aud, list) and self.args.client_id in aud):
            raise Rejected("invalid_audience", "unexpected aud")
        events = claims.get("events")
        if not isinstance(events, dict) or len(events) != 1:
            raise Rejected("invalid_request", "a SET carries exactly one event")
        if "sub" in claims or "exp" in claims or "sub_id" not in claims or not claims.get("jti"):
            raise Rejected("invalid_request", "not an SSF SET (sub_id, jti; no sub, no exp)")
        return claims

    def record(self, claims):
        """Writes a SET's claims once; True when it was new."""
        with self.lock:
            if claims["jti"] in self.seen:
                return False
            self.seen.add(claims["jti"])
            (event_type, payload), = claims["events"].items()
            if event_type == VERIFICATION:
                self.verified_state = payload.get("state")
            line = {"jti": claims["jti"], "type": event_type, "sub_id": claims["sub_id"],
                    "txn": claims.get("txn"), "payload": payload}
            self.out.write(json.dumps(line) + "\n")
            self.out.flush()
            return True

    def wait_verified(self, state, poll):
        deadline = time.time() + 30
        while self.verified_state != state:
            if time.time() > deadline:
                sys.exit("the verification event never came")
            if poll:
                self.poll_once(return_immediately=False)
            else:
                time.sleep(0.05)
        self.out.write(json.dumps({"ready": self.stream["stream_id"]}) + "\n")
        self.out.flush()

    def poll_once(self, return_immediately=False, ack=()):
        url = self.stream["delivery"]["endpoint_url"]
        body = {"maxEvents": 50, "returnImmediately": return_immediately, "ack": list(ack)}
        answer = self.call("POST", url, body, timeout=40)
        received, errors = [], {}
        for jti, value in answer["sets"].items():
            try:
                self.record(self.check(value))
                received.append(jti)
            except Rejected as rejected:
                errors[jti] = {"err": rejected.err, "description": rejected.description}
        if received or errors:
            # Acknowledge at once (RFC 8936 §2.4.2: an ack-only request).
            self.call("POST", url, {"maxEvents": 0, "returnImmediately": True, "ack": received, "setErrs": errors})
        return answer.get("moreAvailable", False)

    def serve_push(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, body=None):
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                value = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                if self.headers.get("Authorization") != receiver.push_secret:
                    return self.answer(400, {"err": "authentication_failed", "description": "unknown credential"})
                if self.headers.get("Content-Type") != "application/secevent+jwt":
                    return self.answer(400, {"err": "invalid_request", "description": "not a SET"})
                try:
                    receiver.record(receiver.check(value))
                except Rejected as rejected:
                    return self.answer(400, {"err": rejected.err, "description": rejected.description})
                self.answer(202)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.args.listen), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.args.cert, self.args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()


def _b64(text):
    import base64
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--out", required=True, help="JSON lines: one per SET received, and the ready line")
    parser.add_argument("--ca", help="a CA file to trust for the issuer's TLS")
    parser.add_argument("--poll", action="store_true", help="poll delivery (RFC 8936)")
    parser.add_argument("--push", help="push delivery (RFC 8935) to this https URL")
    parser.add_argument("--listen", type=int, help="the port the push endpoint listens on")
    parser.add_argument("--cert", help="the push endpoint's certificate (PEM)")
    parser.add_argument("--key", help="the push endpoint's key (PEM)")
    args = parser.parse_args()
    if bool(args.poll) == bool(args.push):
        parser.error("choose --poll or --push")
    receiver = Receiver(args)
    if args.push:
        receiver.serve_push()
    receiver.subscribe()
    state = receiver.verify()
    receiver.wait_verified(state, poll=args.poll)
    while True:
        if args.poll:
            receiver.poll_once(return_immediately=False)
        else:
            time.sleep(3600)


if __name__ == "__main__":
    main()
