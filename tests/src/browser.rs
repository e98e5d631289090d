//! A browser-like HTTP client: keeps cookies, follows no redirects, so that
//! tests see every 303 and `Location` the gateway sends.

use std::collections::BTreeMap;

/// One response, read whole.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Location` of a redirect.
    pub fn location(&self) -> &str {
        self.header("location").unwrap_or_else(|| panic!("no Location on a {} response: {}", self.status, self.body))
    }

    /// The value of a hidden or text input named `name` in the page.
    pub fn input(&self, name: &str) -> Option<String> {
        let marker = format!(r#"name="{name}" value=""#);
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')?;
        Some(html_unescape(&self.body[start..start + end]))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Undoes HTML escaping, named (`&quot;`) and numeric (`&#34;`) alike, `&` last.
fn html_unescape(text: &str) -> String {
    let mut text = text.to_owned();
    for (entities, plain) in [
        (["&quot;", "&#34;"], "\""),
        (["&#39;", "&#x27;"], "'"),
        (["&lt;", "&#60;"], "<"),
        (["&gt;", "&#62;"], ">"),
        (["&amp;", "&#38;"], "&"),
    ] {
        for entity in entities {
            text = text.replace(entity, plain);
        }
    }
    text
}

/// The query parameters of a URL, in order.
pub fn query_pairs(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url).map(|u| u.query_pairs().into_owned().collect()).unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
    pub accept_language: Option<String>,
}

impl Browser {
    pub fn new(base: String) -> Self {
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http client");
        Self { base, client, cookies: BTreeMap::new(), accept_language: None }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let mut request = request;
        if !self.cookies.is_empty() {
            let header = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            request = request.header("cookie", header);
        }
        if let Some(lang) = &self.accept_language {
            request = request.header("accept-language", lang.clone());
        }
        let response = request.send().await.expect("gateway answers");
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap_or_default();
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || text.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Page { status, headers, body }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(self.url(path));
        self.send(request).await
    }

    /// A GET with `Authorization: Bearer token`, as an API client sends it.
    pub async fn get_bearer(&mut self, path: &str, token: &str) -> Page {
        let request = self.client.get(self.url(path)).bearer_auth(token);
        self.send(request).await
    }

    pub async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.client.post(self.url(path)).form(form);
        self.send(request).await
    }

    /// A form POST with extra headers (`Origin`, `Sec-Fetch-Site`, ...), cookies kept.
    pub async fn post_form_with(&mut self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let mut request = self.client.post(self.url(path)).form(form);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    /// A JSON call with the session's CSRF token header.
    pub async fn json(
        &mut self,
        method: reqwest::Method,
        path: &str,
        csrf: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Page {
        let mut request = self.client.request(method, self.url(path));
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        self.send(request).await
    }

    /// Follows an authorization request for a signed-in user, approving the
    /// consent page when one is shown; returns the redirect to the client.
    pub async fn authorize(&mut self, params: &[(&str, &str)]) -> String {
        self.authorize_at("/oauth/authorize", params).await
    }

    /// As [`Browser::authorize`], at `base` (the seed's `/oauth_authorize.html` or the standard URL).
    pub async fn authorize_at(&mut self, base: &str, params: &[(&str, &str)]) -> String {
        let query: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
        let path = format!("{base}?{query}");
        let page = self.get(&path).await;
        if page.status == 303 {
            return page.location().to_owned();
        }
        assert_eq!(page.status, 200, "consent page expected: {}", page.body);
        let request_id = page.input("request_id").expect("consent form");
        let csrf = page.input("csrf_token").expect("csrf token");
        let decided = self
            .post_form(
                "/oauth/authorize/decision",
                &[("csrf_token", &csrf), ("request_id", &request_id), ("decision", "approve")],
            )
            .await;
        assert_eq!(decided.status, 303, "{}", decided.body);
        decided.location().to_owned()
    }

    /// The `code` of an authorization request that the user approves.
    pub async fn authorization_code(&mut self, params: &[(&str, &str)]) -> String {
        let location = self.authorize(params).await;
        query_pairs(&location)
            .into_iter()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no code in {location}"))
    }

    /// A POST of a form with optional Basic credentials, as an OAuth client sends it.
    pub async fn post_client(&mut self, path: &str, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Page {
        let mut request = self.client.post(self.url(path)).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        self.send(request).await
    }

    /// Signs in through the login form; panics unless it redirects.
    pub async fn login(&mut self, username: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let csrf = form.input("csrf_token").expect("login form has a CSRF token");
        let page = self
            .post_form(
                "/login",
                &[
                    ("csrf_token", &csrf),
                    ("username", username),
                    ("password", password),
                    ("next", "/account/applications"),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "login failed: {}", page.body);
        page
    }

    /// Signs up through the form (which signs the new account in); panics unless it redirects.
    pub async fn signup(&mut self, username: &str, password: &str) -> Page {
        let form = self.get("/signup").await;
        let csrf = form.input("csrf_token").expect("sign-up form has a CSRF token");
        let email = format!("{username}@example.com");
        let fields = [
            ("csrf_token", csrf.as_str()),
            ("username", username),
            ("email", email.as_str()),
            ("password", password),
            ("next", "/account/applications"),
        ];
        let page = self.post_form("/signup", &fields).await;
        assert_eq!(page.status, 303, "sign-up failed: {}", page.body);
        page
    }

    /// Submits the login form with a wrong password; panics if it signs in.
    pub async fn login_expecting_failure(&mut self, username: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let csrf = form.input("csrf_token").expect("login form has a CSRF token");
        let fields = [("csrf_token", csrf.as_str()), ("username", username), ("password", password)];
        let page = self.post_form("/login", &fields).await;
        assert_ne!(page.status, 303, "a wrong password signed in");
        page
    }

    /// Signs out through the sign-out form.
    pub async fn logout(&mut self) -> Page {
        let page = self.get("/logout").await;
        let csrf = page.input("csrf_token").expect("sign-out form has a CSRF token");
        self.post_form("/logout", &[("csrf_token", &csrf)]).await
    }
}
