//! The peer's rotating refresh, driven by this load generator. The peer's
//! own `bench.sh` measures refresh with wrk, which reuses one token: with
//! `ROTATE=1` (`rotateRefreshToken: true`, as Gatehouse rotates) every
//! connection must follow its own chain, which only a generator that keeps
//! per-connection state can do. `tests/bench/run.sh` starts a second peer
//! with `ROTATE=1` and passes its URL in `PEER_ROTATING_URL`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::load::{Stats, measure};

/// The peer runner's confidential client (`runner.mjs`).
const CLIENT_ID: &str = "bench";
const SECRET: &str = "bench-secret-0123456789abcdef0123456789abcdef";
const REDIRECT_URI: &str = "http://127.0.0.1:9999/cb";

/// The peer's scopes for the plain and the OpenID Connect rows (its `bench.sh`'s).
pub(crate) const PLAIN: &str = "api:read";
pub(crate) const OPENID: &str = "openid offline_access api:read";

/// Cookies by name, as a browser would keep them for one origin.
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            let Some((name, rest)) = value.split(';').next().and_then(|pair| pair.split_once('=')) else { continue };
            let expired = value.to_ascii_lowercase().contains("expires=thu, 01 jan 1970");
            if expired || rest.is_empty() {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), rest.to_owned());
            }
        }
    }

    fn header(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }
}

fn location(response: &reqwest::Response) -> anyhow::Result<String> {
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).context("no Location")?;
    Ok(location.to_owned())
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with('/') { format!("{base}{location}") } else { location.to_owned() }
}

fn authorize_url(base: &str, scope: &str, consent: bool) -> anyhow::Result<String> {
    let mut url = url::Url::parse(&format!("{base}/auth"))?;
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", scope);
    if consent {
        url.query_pairs_mut().append_pair("prompt", "consent");
    }
    Ok(url.into())
}

fn code_of(location: &str) -> anyhow::Result<String> {
    url::Url::parse(location)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .with_context(|| format!("no code in {location}"))
}

/// Signs in through the peer's development interactions (login, then
/// consent), as its `bench.sh` does with curl; returns the session cookies.
async fn sign_in(http: &reqwest::Client, base: &str, scope: &str) -> anyhow::Result<String> {
    let mut jar = Jar::default();
    let response = http.get(authorize_url(base, scope, true)?).send().await?;
    jar.take(&response);
    let mut next = absolute(base, &location(&response)?);
    // The login form, its resume, the consent form, its resume (which redirects with a code).
    let steps: [Option<&[(&str, &str)]>; 4] =
        [Some(&[("prompt", "login"), ("login", "alice")]), None, Some(&[("prompt", "consent")]), None];
    for form in steps {
        let request = match form {
            Some(fields) => http.post(&next).form(fields),
            None => http.get(&next),
        };
        let response = request.header("cookie", jar.header()).send().await?;
        jar.take(&response);
        next = absolute(base, &location(&response)?);
    }
    code_of(&next)?;
    Ok(jar.header())
}

/// A fresh refresh token of one grant of the signed-in session.
async fn refresh_token(http: &reqwest::Client, base: &str, scope: &str, session: &str) -> anyhow::Result<String> {
    let response = http.get(authorize_url(base, scope, false)?).header("cookie", session).send().await?;
    let code = code_of(&location(&response)?)?;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT_URI)];
    let tokens: serde_json::Value =
        http.post(format!("{base}/token")).basic_auth(CLIENT_ID, Some(SECRET)).form(&form).send().await?.json().await?;
    match tokens["refresh_token"].as_str() {
        Some(token) => Ok(token.to_owned()),
        None => bail!("the peer issued no refresh token: {tokens}"),
    }
}

type Chain = (reqwest::Client, String, String);

/// The peer's refresh grant with rotation: each worker follows its own
/// chain (a rotated token presented again would revoke the grant).
pub(crate) async fn rotating_refresh(
    base: &str,
    scope: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let setup = crate::load::http_client()?;
    let session = sign_in(&setup, base, scope).await?;
    let mut states = Vec::new();
    for _ in 0..connections {
        let http = crate::load::http_client()?;
        let token = refresh_token(&http, base, scope, &session).await?;
        states.push((http, base.to_owned(), token));
    }
    Ok(measure(states, duration, |(http, base, token): Chain| async move {
        let form = [("grant_type", "refresh_token"), ("refresh_token", token.as_str())];
        let response = http.post(format!("{base}/token")).basic_auth(CLIENT_ID, Some(SECRET)).form(&form).send().await;
        let next = match response {
            Ok(r) if r.status() == 200 => {
                r.json::<serde_json::Value>().await.ok().and_then(|v| v["refresh_token"].as_str().map(str::to_owned))
            }
            _ => None,
        };
        // A rotating peer must hand back a new token every time.
        let ok = next.as_ref().is_some_and(|n| *n != token);
        Some(((http, base, next.unwrap_or(token)), ok))
    })
    .await)
}
