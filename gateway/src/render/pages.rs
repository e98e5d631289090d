//! The pages a person uses: bodies only; `html::page` wraps them. Each is a
//! compile-time template in `gateway/templates/` (askama, HTML-escaped by
//! default: a value is inserted raw only where the template says `|safe`,
//! which only the layout does, for a body these templates rendered); the
//! words are the language's Fluent catalogue's (`Lang::msg`).

use askama::Template;
use gatehouse_proto::pb::authorization::v1::{ApplicationSummary, ConsentRequired, Grant, LookupUserCodeResponse};
use gatehouse_proto::pb::common::v1::{AuditEvent, ClientType, ScopeDescription};
use gatehouse_proto::pb::registry::v1::{Application, ResourceServer};
use gatehouse_proto::pb::token::v1::PersonalTokenInfo;

use crate::i18n::Lang;

/// A rendered template; rendering only fails when writing to the string
/// does, which it does not.
pub(crate) fn render(template: &impl Template) -> String {
    template.render().unwrap_or_else(|error| {
        tracing::error!(%error, "a page did not render");
        String::new()
    })
}

fn when(lang: Lang, unix: i64) -> String {
    if unix == 0 {
        return lang.msg("never");
    }
    chrono::DateTime::from_timestamp(unix, 0).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

/// A scope as a person reads it: its name and its description in their language.
pub(crate) struct Scope<'a> {
    name: &'a str,
    text: &'a str,
}

fn scopes(lang: Lang, scopes: &[ScopeDescription]) -> Vec<Scope<'_>> {
    scopes
        .iter()
        .map(|scope| Scope {
            name: &scope.name,
            text: if lang == Lang::Zh && !scope.description_zh.is_empty() {
                &scope.description_zh
            } else {
                &scope.description
            },
        })
        .collect()
}

#[derive(Template)]
#[template(path = "login.html")]
struct Login<'a> {
    lang: Lang,
    csrf: &'a str,
    next: &'a str,
    next_query: String,
    username: &'a str,
    error: Option<&'a str>,
    signup: bool,
    reset: bool,
    passkeys: bool,
}

/// The sign-in page; `(signup, reset, passkeys)` say which other ways it offers.
pub(crate) fn login(
    lang: Lang,
    form_token: &str,
    next: &str,
    username: &str,
    error: Option<&str>,
    (signup, reset, passkeys): (bool, bool, bool),
) -> String {
    let next_query = url_encode(next);
    render(&Login { lang, csrf: form_token, next, next_query, username, error, signup, reset, passkeys })
}

/// What a passkey ceremony page carries.
#[derive(Clone, Copy)]
pub(crate) struct PasskeyCeremonyView<'a> {
    pub(crate) csrf: &'a str,
    pub(crate) title: &'a str,
    /// `create` (adding a passkey) or `get` (using one).
    pub(crate) kind: &'a str,
    /// Where the browser's answer is posted.
    pub(crate) action: &'a str,
    /// The registry's options (JSON).
    pub(crate) options_json: &'a str,
    pub(crate) ceremony: &'a str,
    pub(crate) next: &'a str,
    pub(crate) name: &'a str,
    /// Where *Cancel* goes.
    pub(crate) back: &'a str,
}

#[derive(Template)]
#[template(path = "passkey_ceremony.html")]
struct PasskeyCeremony<'a> {
    lang: Lang,
    csrf: &'a str,
    error: Option<&'a str>,
    title: &'a str,
    kind: &'a str,
    action: &'a str,
    options_json: String,
    ceremony: &'a str,
    next: &'a str,
    name: &'a str,
    back: &'a str,
}

/// A page that runs a passkey ceremony: the options as a JSON data block
/// (`<` escaped, so that no value can end the element), the form the answer
/// is posted with, and the script.
pub(crate) fn passkey_ceremony(lang: Lang, view: PasskeyCeremonyView<'_>) -> String {
    render(&PasskeyCeremony {
        lang,
        csrf: view.csrf,
        error: None,
        title: view.title,
        kind: view.kind,
        action: view.action,
        options_json: view.options_json.replace('<', "\\u003c"),
        ceremony: view.ceremony,
        next: view.next,
        name: view.name,
        back: view.back,
    })
}

#[derive(Template)]
#[template(path = "forgot_password.html")]
struct ForgotPassword<'a> {
    lang: Lang,
    csrf: &'a str,
    sent: bool,
    error: Option<&'a str>,
}

/// Asks for a reset link; after, says one is on its way if an account has the address.
pub(crate) fn forgot_password(lang: Lang, form_token: &str, sent: bool, error: Option<&str>) -> String {
    render(&ForgotPassword { lang, csrf: form_token, sent, error })
}

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPassword<'a> {
    lang: Lang,
    csrf: &'a str,
    token: &'a str,
    done: bool,
    error: Option<&'a str>,
}

/// The reset link's page: a new password, then the way back to sign in.
pub(crate) fn reset_password(lang: Lang, form_token: &str, token: &str, done: bool, error: Option<&str>) -> String {
    render(&ResetPassword { lang, csrf: form_token, token, done, error })
}

#[derive(Template)]
#[template(path = "verify_email.html")]
struct VerifyEmail<'a> {
    lang: Lang,
    csrf: &'a str,
    token: &'a str,
    done: bool,
    error: Option<&'a str>,
}

/// The confirmation link's page: one button (a link scanner that opens the
/// link confirms nothing), then the result.
pub(crate) fn verify_email(lang: Lang, form_token: &str, token: &str, done: bool, error: Option<&str>) -> String {
    render(&VerifyEmail { lang, csrf: form_token, token, done, error })
}

#[derive(Template)]
#[template(path = "second_step.html")]
struct SecondStep<'a> {
    lang: Lang,
    csrf: &'a str,
    next: &'a str,
    error: Option<&'a str>,
    passkeys: bool,
}

/// The sign-in's second step: the code from the authenticator app, a
/// recovery code, or (`passkeys`) one of the account's passkeys.
pub(crate) fn second_step(lang: Lang, form_token: &str, next: &str, error: Option<&str>, passkeys: bool) -> String {
    render(&SecondStep { lang, csrf: form_token, next, error, passkeys })
}

#[derive(Template)]
#[template(path = "signup.html")]
struct Signup<'a> {
    lang: Lang,
    csrf: &'a str,
    next: &'a str,
    next_query: String,
    username: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    invitation: &'a str,
    domains: String,
}

/// What the sign-up form carries besides its fields: an invitation, and
/// the domains an address must be at.
#[derive(Clone, Copy)]
pub(crate) struct SignupTerms<'a> {
    pub(crate) invitation: &'a str,
    pub(crate) domains: &'a [String],
}

pub(crate) fn signup(
    lang: Lang,
    form_token: &str,
    next: &str,
    (username, email): (&str, &str),
    error: Option<&str>,
    terms: SignupTerms<'_>,
) -> String {
    let next_query = url_encode(next);
    let domains = terms.domains.join(", ");
    let invitation = terms.invitation;
    render(&Signup { lang, csrf: form_token, next, next_query, username, email, error, invitation, domains })
}

#[derive(Template)]
#[template(path = "consent.html")]
struct Consent<'a> {
    lang: Lang,
    csrf: &'a str,
    username: &'a str,
    app: ApplicationSummary,
    asked: Vec<Scope<'a>>,
    granted: Vec<Scope<'a>>,
    resources: &'a [String],
    document_host: String,
    redirect_host: String,
    redirect_uri: &'a str,
    /// The browser goes back to an application on this device.
    local: bool,
    request_id: &'a str,
}

/// The consent page. A client that described itself: its name is its own
/// claim, so the host that serves its metadata document (which vouches for
/// it) and the host the browser goes back to (where the code goes) are both
/// shown prominently (draft-ietf-oauth-client-id-metadata-document §6); one
/// that comes back to this device is said to (anyone can publish such a
/// document). Asked again for what was approved before (a client whose
/// redirect cannot identify it), the approved scopes are what this approval
/// gives; RFC 8707 resources are listed so the user sees where the tokens work.
pub(crate) fn consent(lang: Lang, csrf: &str, username: &str, consent: &ConsentRequired) -> String {
    let app = consent.application.clone().unwrap_or_default();
    let asked = if consent.new_scopes.is_empty() { &consent.granted_scopes } else { &consent.new_scopes };
    let granted = if consent.new_scopes.is_empty() { &[][..] } else { &consent.granted_scopes[..] };
    let redirect_host = host_of(&consent.redirect_uri);
    let local = matches!(redirect_host.as_str(), "127.0.0.1" | "[::1]" | "localhost");
    render(&Consent {
        lang,
        csrf,
        username,
        document_host: host_of(&app.client_id),
        app,
        asked: scopes(lang, asked),
        granted: scopes(lang, granted),
        resources: &consent.resources,
        redirect_host,
        redirect_uri: &consent.redirect_uri,
        local,
        request_id: &consent.request_id,
    })
}

/// The host of a URL as shown to a person (`[::1]` for IPv6), or the text itself.
fn host_of(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host().map(|h| h.to_string())).unwrap_or_else(|| url.to_owned())
}

#[derive(Template)]
#[template(path = "logout.html")]
struct Logout<'a> {
    lang: Lang,
    csrf: &'a str,
}

pub(crate) fn logout(lang: Lang, csrf: &str) -> String {
    render(&Logout { lang, csrf })
}

#[derive(Template)]
#[template(path = "end_session_confirm.html")]
struct EndSessionConfirm<'a> {
    lang: Lang,
    csrf: &'a str,
    application: Option<&'a str>,
    fields: &'a [(&'a str, &'a str)],
}

/// RP-initiated logout's confirmation: the request's parameters go back
/// with the answer (and are checked again), with the session's CSRF token.
pub(crate) fn end_session_confirm(
    lang: Lang,
    csrf: &str,
    application: Option<&str>,
    fields: &[(&str, &str)],
) -> String {
    render(&EndSessionConfirm { lang, csrf, application, fields })
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOut {
    lang: Lang,
}

pub(crate) fn signed_out(lang: Lang) -> String {
    render(&SignedOut { lang })
}

fn client_type_text(lang: Lang, client_type: i32) -> String {
    if client_type == ClientType::Public as i32 { lang.msg("public") } else { lang.msg("confidential") }
}

struct AppRow<'a> {
    client_id: &'a str,
    name: &'a str,
    description: &'a str,
    kind: String,
}

#[derive(Template)]
#[template(path = "applications.html")]
struct Applications<'a> {
    lang: Lang,
    apps: Vec<AppRow<'a>>,
}

pub(crate) fn applications(lang: Lang, apps: &[Application]) -> String {
    let apps = apps
        .iter()
        .map(|app| AppRow {
            client_id: &app.client_id,
            name: &app.name,
            description: &app.description,
            kind: client_type_text(lang, app.client_type),
        })
        .collect();
    render(&Applications { lang, apps })
}

/// Values of the application form, as typed.
#[derive(Debug, Clone, Default)]
pub(crate) struct AppForm {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) homepage_url: String,
    pub(crate) redirect_uris: String,
    pub(crate) post_logout_redirect_uris: String,
    pub(crate) public: bool,
    /// The device authorization grant is allowed.
    pub(crate) device: bool,
}

#[derive(Template)]
#[template(path = "application_form.html")]
struct ApplicationForm<'a> {
    lang: Lang,
    csrf: &'a str,
    action: &'a str,
    form: &'a AppForm,
    editing: bool,
    error: Option<&'a str>,
}

pub(crate) fn application_form(
    lang: Lang,
    csrf: &str,
    action: &str,
    form: &AppForm,
    editing: bool,
    error: Option<&str>,
) -> String {
    render(&ApplicationForm { lang, csrf, action, form, editing, error })
}

struct SecretRow<'a> {
    id: &'a str,
    prefix: &'a str,
    created: String,
    used: String,
}

#[derive(Template)]
#[template(path = "application.html")]
struct ApplicationPage<'a> {
    lang: Lang,
    csrf: &'a str,
    app: &'a Application,
    kind: String,
    public: bool,
    secrets: Vec<SecretRow<'a>>,
    new_secret: Option<&'a str>,
}

pub(crate) fn application(lang: Lang, csrf: &str, app: &Application, new_secret: Option<&str>) -> String {
    let secrets = app
        .secrets
        .iter()
        .map(|secret| SecretRow {
            id: &secret.id,
            prefix: &secret.prefix,
            created: when(lang, secret.created_at),
            used: when(lang, secret.last_used_at),
        })
        .collect();
    render(&ApplicationPage {
        lang,
        csrf,
        app,
        kind: client_type_text(lang, app.client_type),
        public: app.client_type == ClientType::Public as i32,
        secrets,
        new_secret,
    })
}

struct GrantRow {
    client_id: String,
    name: String,
    homepage: String,
    scopes: String,
    created: String,
    used: String,
}

#[derive(Template)]
#[template(path = "authorizations.html")]
struct Authorizations<'a> {
    lang: Lang,
    csrf: &'a str,
    grants: Vec<GrantRow>,
}

pub(crate) fn authorizations(lang: Lang, csrf: &str, grants: &[Grant]) -> String {
    let grants = grants
        .iter()
        .map(|grant| {
            let app = grant.application.clone().unwrap_or_default();
            GrantRow {
                client_id: app.client_id,
                name: app.name,
                homepage: app.homepage_url,
                scopes: grant.scopes.join(" "),
                created: when(lang, grant.created_at),
                used: when(lang, grant.last_used_at),
            }
        })
        .collect();
    render(&Authorizations { lang, csrf, grants })
}

struct EventRow<'a> {
    at: String,
    action: &'a str,
    outcome: &'a str,
    actor: String,
    target: &'a str,
    source: &'a str,
}

#[derive(Template)]
#[template(path = "security_log.html")]
struct SecurityLog<'a> {
    lang: Lang,
    events: Vec<EventRow<'a>>,
}

/// The Security log: the account's events from every service's audit trail.
pub(crate) fn security_log(lang: Lang, events: &[AuditEvent]) -> String {
    let events = events
        .iter()
        .map(|event| EventRow {
            at: chrono::DateTime::from_timestamp_millis(event.at_ms)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default(),
            action: &event.action,
            outcome: &event.outcome,
            actor: format!("{} {} ({})", event.actor_kind, event.actor_id, event.actor_via),
            target: &event.target,
            source: &event.source,
        })
        .collect();
    render(&SecurityLog { lang, events })
}

#[derive(Template)]
#[template(path = "change_password.html")]
struct ChangePassword<'a> {
    lang: Lang,
    csrf: &'a str,
    done: bool,
    error: Option<&'a str>,
}

/// The password change page: the form, after a change its confirmation, or the error.
pub(crate) fn change_password(lang: Lang, csrf: &str, done: bool, error: Option<&str>) -> String {
    render(&ChangePassword { lang, csrf, done, error })
}

/// A TOTP enrolment waiting for its first code, as the page shows it.
pub(crate) struct Enrolment {
    /// The QR code of the Key URI, as SVG markup drawn here (no text from the request).
    pub(crate) qr_svg: String,
    /// The secret in base32, for typing.
    pub(crate) secret: String,
}

/// The account's address, as the security page shows it.
pub(crate) struct EmailState {
    pub(crate) address: String,
    pub(crate) verified: bool,
    /// This server mails confirmation links.
    pub(crate) can_send: bool,
}

/// What the security page shows besides the account's state.
#[derive(Default)]
pub(crate) struct SecurityView<'a> {
    pub(crate) email: Option<EmailState>,
    /// The account's passkeys; None when this deployment offers none.
    pub(crate) passkeys: Option<Vec<PasskeyRowView>>,
    pub(crate) enrolment: Option<Enrolment>,
    pub(crate) recovery_codes: Vec<String>,
    pub(crate) notice: Option<String>,
    pub(crate) error: Option<&'a str>,
}

/// One of the account's passkeys on the security page.
pub(crate) struct PasskeyRowView {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) added: String,
    /// Empty when never used.
    pub(crate) used: String,
}

impl PasskeyRowView {
    pub(crate) fn of(passkey: &gatehouse_proto::pb::registry::v1::PasskeyInfo) -> Self {
        Self {
            id: passkey.id.clone(),
            name: passkey.name.clone(),
            added: utc(passkey.created_at),
            used: if passkey.last_used_at > 0 { utc(passkey.last_used_at) } else { String::new() },
        }
    }
}

#[derive(Template)]
#[template(path = "security.html")]
struct Security<'a> {
    lang: Lang,
    csrf: &'a str,
    totp: bool,
    recovery_codes_left: u32,
    view: SecurityView<'a>,
}

/// *Account → Two-step sign-in*: its state, enrolment (QR code, secret,
/// the first code), recovery codes shown once, turning it off.
pub(crate) fn security(lang: Lang, csrf: &str, totp: bool, recovery_codes_left: u32, view: SecurityView<'_>) -> String {
    render(&Security { lang, csrf, totp, recovery_codes_left, view })
}

/// The QR code of `text` as SVG, or nothing when it does not fit in one.
pub(crate) fn qr_svg(text: &str) -> String {
    qrcode::QrCode::new(text.as_bytes())
        .map(|code| code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build())
        .unwrap_or_default()
}

/// One row of the sessions page.
pub(crate) struct SessionRowView<'a> {
    pub(crate) id: &'a str,
    pub(crate) created: String,
    pub(crate) seen: String,
    pub(crate) address: &'a str,
    pub(crate) user_agent: &'a str,
    pub(crate) current: bool,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct Sessions<'a> {
    lang: Lang,
    csrf: &'a str,
    sessions: Vec<SessionRowView<'a>>,
}

pub(super) fn utc(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

/// *Account → Sessions*: where the account is signed in, each signed out on its own or all others at once.
pub(crate) fn sessions(
    lang: Lang,
    csrf: &str,
    sessions: &[gatehouse_proto::pb::authorization::v1::SessionInfo],
) -> String {
    let sessions = sessions
        .iter()
        .map(|s| SessionRowView {
            id: &s.id,
            created: utc(s.created_at),
            seen: utc(s.last_seen_at),
            address: &s.address,
            user_agent: &s.user_agent,
            current: s.current,
        })
        .collect();
    render(&Sessions { lang, csrf, sessions })
}

#[derive(Template)]
#[template(path = "delete_account.html")]
struct DeleteAccount<'a> {
    lang: Lang,
    csrf: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

/// The account deletion page: what is deleted, and the confirmation form.
pub(crate) fn delete_account(lang: Lang, csrf: &str, username: &str, error: Option<&str>) -> String {
    render(&DeleteAccount { lang, csrf, username, error })
}

/// Percent-encodes a value for a query string.
pub(crate) fn url_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Name/value pairs as a query string.
pub(crate) fn form_encode<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

#[derive(Template)]
#[template(path = "device_entry.html")]
struct DeviceEntry<'a> {
    lang: Lang,
    csrf: &'a str,
    user_code: &'a str,
    error: Option<&'a str>,
}

/// The device flow's first page: type the code the device shows.
pub(crate) fn device_entry(lang: Lang, csrf: &str, user_code: &str, error: Option<&str>) -> String {
    render(&DeviceEntry { lang, csrf, user_code, error })
}

#[derive(Template)]
#[template(path = "device_confirm.html")]
struct DeviceConfirm<'a> {
    lang: Lang,
    csrf: &'a str,
    username: &'a str,
    name: String,
    owner: &'a str,
    user_code: &'a str,
    scopes: Vec<Scope<'a>>,
}

/// The device flow's confirmation: which application, whose, what it gets.
pub(crate) fn device_confirm(lang: Lang, csrf: &str, username: &str, found: &LookupUserCodeResponse) -> String {
    render(&DeviceConfirm {
        lang,
        csrf,
        username,
        name: found.application.clone().unwrap_or_default().name,
        owner: &found.owner,
        user_code: &found.user_code,
        scopes: scopes(lang, &found.scopes),
    })
}

#[derive(Template)]
#[template(path = "device_done.html")]
struct DeviceDone {
    lang: Lang,
    approved: bool,
}

/// The device flow's last page.
pub(crate) fn device_done(lang: Lang, approved: bool) -> String {
    render(&DeviceDone { lang, approved })
}

struct TokenRow<'a> {
    id: &'a str,
    name: &'a str,
    scopes: String,
    created: String,
    expires: String,
    used: String,
}

#[derive(Template)]
#[template(path = "personal_tokens.html")]
struct PersonalTokens<'a> {
    lang: Lang,
    csrf: &'a str,
    tokens: Vec<TokenRow<'a>>,
    scopes: Vec<Scope<'a>>,
    expiry_days: [u32; 4],
    fresh: Option<&'a str>,
    error: Option<&'a str>,
}

/// Account -> Personal access tokens: the list, a fresh token shown once,
/// and the form for a new one.
pub(crate) fn personal_tokens(
    lang: Lang,
    csrf: &str,
    tokens: &[PersonalTokenInfo],
    catalogue: &[ScopeDescription],
    fresh: Option<&str>,
    error: Option<&str>,
) -> String {
    let tokens = tokens
        .iter()
        .map(|token| TokenRow {
            id: &token.id,
            name: &token.name,
            scopes: token.scopes.join(" "),
            created: when(lang, token.created_at),
            expires: when(lang, token.expires_at),
            used: if token.last_used_address.is_empty() {
                when(lang, token.last_used_at)
            } else {
                format!("{} ({})", when(lang, token.last_used_at), token.last_used_address)
            },
        })
        .collect();
    render(&PersonalTokens {
        lang,
        csrf,
        tokens,
        scopes: scopes(lang, catalogue),
        expiry_days: [7, 30, 90, 366],
        fresh,
        error,
    })
}

#[derive(Template)]
#[template(path = "resource_servers.html")]
struct ResourceServers<'a> {
    lang: Lang,
    csrf: &'a str,
    servers: &'a [ResourceServer],
    error: Option<&'a str>,
}

/// The user's resource servers, and the form that registers one.
pub(crate) fn resource_servers(lang: Lang, csrf: &str, servers: &[ResourceServer], error: Option<&str>) -> String {
    render(&ResourceServers { lang, csrf, servers, error })
}

/// One row of *Admin → Users*.
struct AdminUserRow<'a> {
    id: &'a str,
    username: &'a str,
    email: &'a str,
    created: String,
    administrator: bool,
    disabled: bool,
    /// The signed-in administrator: no button to disable oneself.
    is_me: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct AdminUsers<'a> {
    lang: Lang,
    csrf: &'a str,
    query: &'a str,
    query_encoded: String,
    users: Vec<AdminUserRow<'a>>,
    next: &'a str,
}

/// *Admin → Users*: the accounts found, each with its state and the button that changes it.
pub(crate) fn admin_users(
    lang: Lang,
    csrf: &str,
    me: &str,
    query: &str,
    users: &[gatehouse_proto::convert::Account],
    next: &str,
) -> String {
    let users = users
        .iter()
        .map(|u| AdminUserRow {
            id: &u.id,
            username: &u.username,
            email: &u.email,
            created: utc(u.created_at),
            administrator: u.administrator,
            disabled: u.disabled,
            is_me: u.id == me,
        })
        .collect();
    render(&AdminUsers { lang, csrf, query, query_encoded: url_encode(query), users, next })
}
