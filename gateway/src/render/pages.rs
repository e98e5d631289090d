//! The pages a person uses: bodies only; `html::page` wraps them.

use std::fmt::Write;

use gatehouse_proto::pb::authorization::v1::{ConsentRequired, Grant};
use gatehouse_proto::pb::common::v1::{AuditEvent, ClientType, ScopeDescription};
use gatehouse_proto::pb::registry::v1::Application;

use super::html::{csrf_field, escape, isolated};
use crate::i18n::Lang;

fn when(lang: Lang, unix: i64) -> String {
    if unix == 0 {
        return lang.msg("never").to_owned();
    }
    chrono::DateTime::from_timestamp(unix, 0).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

fn error_box(error: Option<&str>) -> String {
    error.map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e))).unwrap_or_default()
}

fn scope_text(lang: Lang, scope: &ScopeDescription) -> String {
    let text =
        if lang == Lang::Zh && !scope.description_zh.is_empty() { &scope.description_zh } else { &scope.description };
    format!("<li><b>{}</b><br>{}</li>", escape(&scope.name), escape(text))
}

pub(crate) fn login(
    lang: Lang,
    form_token: &str,
    next: &str,
    username: &str,
    error: Option<&str>,
    signup: bool,
) -> String {
    let signup_link = if signup {
        format!(
            r#"<p class="muted">{} <a href="/signup?next={}">{}</a></p>"#,
            lang.msg("new-here"),
            escape(&url_encode(next)),
            lang.msg("create-an-account")
        )
    } else {
        String::new()
    };
    format!(
        r#"<div class="card narrow"><h1>{title}</h1>{error}
<form method="post" action="/login">{csrf}<input type="hidden" name="next" value="{next}">
<label for="username">{user_label}</label><input type="text" id="username" name="username" value="{username}" autocomplete="username" required autofocus>
<label for="password">{pass_label}</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<div class="actions"><button class="primary" type="submit">{submit}</button></div></form>{signup_link}</div>"#,
        title = lang.msg("sign-in-to-gatehouse"),
        error = error_box(error),
        csrf = csrf_field(form_token),
        next = escape(next),
        user_label = lang.msg("username"),
        username = escape(username),
        pass_label = lang.msg("password"),
        submit = lang.msg("sign-in"),
    )
}

pub(crate) fn signup(
    lang: Lang,
    form_token: &str,
    next: &str,
    username: &str,
    email: &str,
    error: Option<&str>,
) -> String {
    format!(
        r#"<div class="card narrow"><h1>{title}</h1>{error}
<form method="post" action="/signup">{csrf}<input type="hidden" name="next" value="{next}">
<label for="username">{user_label}</label><input type="text" id="username" name="username" value="{username}" autocomplete="username" required autofocus>
<label for="email">{email_label}</label><input type="email" id="email" name="email" value="{email}" autocomplete="email" required>
<label for="password">{pass_label}</label><input type="password" id="password" name="password" autocomplete="new-password" minlength="8" required>
<div class="actions"><button class="primary" type="submit">{submit}</button></div></form>
<p class="muted">{have} <a href="/login?next={next_q}">{signin}</a></p></div>"#,
        title = lang.msg("create-your-account"),
        error = error_box(error),
        csrf = csrf_field(form_token),
        next = escape(next),
        next_q = escape(&url_encode(next)),
        user_label = lang.msg("username"),
        username = escape(username),
        email_label = lang.msg("email"),
        email = escape(email),
        pass_label = lang.msg("password-at-least-8-characters"),
        submit = lang.msg("create-account"),
        have = lang.msg("already-have-an-account"),
        signin = lang.msg("sign-in"),
    )
}

pub(crate) fn consent(lang: Lang, csrf: &str, username: &str, consent: &ConsentRequired) -> String {
    let app = consent.application.clone().unwrap_or_default();
    let mut scopes = String::new();
    // Asked again for what was approved before (a client whose redirect
    // cannot identify it): the approved scopes are what this approval gives.
    let asked = if consent.new_scopes.is_empty() { &consent.granted_scopes } else { &consent.new_scopes };
    for scope in asked {
        scopes.push_str(&scope_text(lang, scope));
    }
    let granted = if consent.granted_scopes.is_empty() || consent.new_scopes.is_empty() {
        String::new()
    } else {
        let mut list = String::new();
        for scope in &consent.granted_scopes {
            list.push_str(&scope_text(lang, scope));
        }
        format!(r#"<h2>{}</h2><ul class="scopes muted">{list}</ul>"#, lang.msg("already-authorized"))
    };
    let homepage = if app.homepage_url.is_empty() {
        String::new()
    } else {
        format!(r#"<p class="muted">{}</p>"#, isolated(&app.homepage_url))
    };
    // A client that described itself: its name is its own claim. The host
    // that serves its metadata document vouches for it, and the host the
    // browser goes back to is where the code goes: both shown prominently
    // (draft-ietf-oauth-client-id-metadata-document §6).
    let vouched = match app.registration.as_str() {
        "metadata_document" => format!(
            r#"<p class="notice">{} <b>{}</b></p>"#,
            lang.msg("described-by-its-own-metadata-document-served"),
            escape(&host_of(&app.client_id))
        ),
        "dynamic" => format!(r#"<p class="notice">{}</p>"#, lang.msg("this-application-registered-itself-its-name-is")),
        _ => String::new(),
    };
    let redirect_host = host_of(&consent.redirect_uri);
    let local = matches!(redirect_host.as_str(), "127.0.0.1" | "[::1]" | "localhost");
    // A self-described client that comes back to this device: anyone can
    // publish such a document, so say so (the draft's SHOULD).
    let vouched = if local && app.registration == "metadata_document" {
        format!(r#"{vouched}<p class="notice">{}</p>"#, lang.msg("it-returns-to-an-application-on-this"))
    } else {
        vouched
    };
    let redirect_host = if local {
        format!("{} ({})", escape(&redirect_host), lang.msg("an-application-on-this-device"))
    } else {
        escape(&redirect_host)
    };
    // RFC 8707: the APIs the tokens will work at, so the user sees where.
    let resources = if consent.resources.is_empty() {
        String::new()
    } else {
        let list: String = consent.resources.iter().map(|r| format!("<li><code>{}</code></li>", escape(r))).collect();
        format!(r#"<h2>{}</h2><ul class="scopes">{list}</ul>"#, lang.msg("for-use-at"))
    };
    format!(
        r#"<div class="card narrow"><h1>{title}</h1>
<p><b>{name}</b> {wants} <b>{user}</b>{account}</p>{vouched}{homepage}{description}
<h2>{asks}</h2><ul class="scopes">{scopes}</ul>{granted}{resources}
<p>{redirect_note} <b>{redirect_host}</b></p><p class="muted"><code>{redirect}</code></p>
<form method="post" action="/oauth/authorize/decision">{csrf}<input type="hidden" name="request_id" value="{request_id}">
<div class="actions"><button class="primary" type="submit" name="decision" value="approve">{approve}</button><button type="submit" name="decision" value="deny">{deny}</button></div></form></div>"#,
        title = lang.msg("authorize-application"),
        name = isolated(&app.name),
        wants = lang.msg("wants-to-access-your-account"),
        user = escape(username),
        account = "",
        description =
            if app.description.is_empty() { String::new() } else { format!("<p>{}</p>", isolated(&app.description)) },
        asks = lang.msg("this-application-will-be-able-to"),
        redirect_note = lang.msg("you-will-be-sent-back-to"),
        redirect = isolated(&consent.redirect_uri),
        csrf = csrf_field(csrf),
        request_id = escape(&consent.request_id),
        approve = lang.msg("authorize"),
        deny = lang.msg("deny"),
    )
}

/// The host of a URL as shown to a person (`[::1]` for IPv6), or the text itself.
fn host_of(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host().map(|h| h.to_string())).unwrap_or_else(|| url.to_owned())
}

pub(crate) fn logout(lang: Lang, csrf: &str) -> String {
    format!(
        r#"<div class="card narrow"><h1>{title}</h1><form method="post" action="/logout">{csrf}<div class="actions"><button class="primary" type="submit">{submit}</button></div></form></div>"#,
        title = lang.msg("sign-out-of-gatehouse"),
        csrf = csrf_field(csrf),
        submit = lang.msg("sign-out"),
    )
}

/// RP-initiated logout's confirmation: the request's parameters go back
/// with the answer (and are checked again), with the session's CSRF token.
pub(crate) fn end_session_confirm(
    lang: Lang,
    csrf: &str,
    application: Option<&str>,
    fields: &[(&str, &str)],
) -> String {
    let mut hidden = String::new();
    for (name, value) in fields {
        let _ = write!(hidden, r#"<input type="hidden" name="{}" value="{}">"#, escape(name), escape(value));
    }
    let who = match application {
        Some(name) => format!("<p>{} <strong>{}</strong></p>", lang.msg("the-application-asking-is"), escape(name)),
        None => String::new(),
    };
    format!(
        r#"<div class="card narrow"><h1>{title}</h1>{who}<form method="post" action="/oauth/logout/confirm">{csrf}{hidden}<div class="actions"><button class="primary" type="submit">{submit}</button></div></form></div>"#,
        title = lang.msg("sign-out-of-gatehouse"),
        csrf = csrf_field(csrf),
        submit = lang.msg("sign-out"),
    )
}

pub(crate) fn signed_out(lang: Lang) -> String {
    format!(
        r#"<div class="card narrow"><h1>{title}</h1><p><a href="/login">{again}</a></p></div>"#,
        title = lang.msg("you-are-signed-out"),
        again = lang.msg("sign-in-again"),
    )
}

fn client_type_text(lang: Lang, client_type: i32) -> String {
    if client_type == ClientType::Public as i32 { lang.msg("public") } else { lang.msg("confidential") }
}

pub(crate) fn applications(lang: Lang, apps: &[Application]) -> String {
    let mut rows = String::new();
    for app in apps {
        let _ = write!(
            rows,
            r#"<tr><td><a href="/account/applications/{id}">{name}</a><br><span class="muted">{description}</span></td><td><code>{id}</code></td><td>{kind}</td></tr>"#,
            id = escape(&app.client_id),
            name = isolated(&app.name),
            description = isolated(&app.description),
            kind = client_type_text(lang, app.client_type),
        );
    }
    if apps.is_empty() {
        rows = format!(r#"<tr><td colspan="3" class="muted">{}</td></tr>"#, lang.msg("no-applications-yet"));
    }
    format!(
        r#"<div class="card"><h1>{title}</h1><p class="muted">{intro}</p>
<table><thead><tr><th>{name}</th><th>Client ID</th><th>{kind}</th></tr></thead><tbody>{rows}</tbody></table>
<div class="actions"><a class="button primary" href="/account/applications/new">{new}</a></div></div>"#,
        title = lang.msg("applications"),
        intro = lang.msg("register-an-application-to-let-it-ask"),
        name = lang.msg("name"),
        kind = lang.msg("type"),
        new = lang.msg("register-a-new-application"),
    )
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

pub(crate) fn application_form(
    lang: Lang,
    csrf: &str,
    action: &str,
    form: &AppForm,
    editing: bool,
    error: Option<&str>,
) -> String {
    let kind = if editing {
        String::new()
    } else {
        format!(
            r#"<label><input type="checkbox" name="public" value="1"{checked}> {public}</label><p class="muted">{public_hint}</p>"#,
            checked = if form.public { " checked" } else { "" },
            public = lang.msg("public-client-mobile-desktop-or-single-page"),
            public_hint = lang.msg("leave-unchecked-for-a-server-side-application"),
        )
    };
    format!(
        r#"<div class="card"><h1>{title}</h1>{error}<form method="post" action="{action}">{csrf}
<label for="name">{name_label}</label><input type="text" id="name" name="name" value="{name}" maxlength="100" required>
<label for="description">{desc_label}</label><textarea id="description" name="description" maxlength="1000">{description}</textarea>
<label for="homepage_url">{home_label}</label><input type="url" id="homepage_url" name="homepage_url" value="{homepage}">
<label for="redirect_uris">{cb_label}</label><textarea id="redirect_uris" name="redirect_uris" required>{uris}</textarea>
<p class="muted">{cb_hint}</p>
<label for="post_logout_redirect_uris">{logout_label}</label><textarea id="post_logout_redirect_uris" name="post_logout_redirect_uris">{logout_uris}</textarea>
<p class="muted">{logout_hint}</p>{kind}
<label><input type="checkbox" name="device" value="1"{device_checked}> {device}</label><p class="muted">{device_hint}</p>
<div class="actions"><button class="primary" type="submit">{submit}</button><a class="button" href="/account/applications">{cancel}</a></div></form></div>"#,
        title = if editing { lang.msg("edit-application") } else { lang.msg("register-a-new-application") },
        error = error_box(error),
        action = escape(action),
        csrf = csrf_field(csrf),
        name_label = lang.msg("application-name"),
        name = escape(&form.name),
        desc_label = lang.msg("description"),
        description = escape(&form.description),
        home_label = lang.msg("homepage-url"),
        homepage = escape(&form.homepage_url),
        cb_label = lang.msg("callback-urls-one-per-line"),
        uris = escape(&form.redirect_uris),
        cb_hint = lang.msg("after-a-user-authorizes-the-application-they"),
        logout_label = lang.msg("post-logout-redirect-urls-one-per-line"),
        logout_uris = escape(&form.post_logout_redirect_uris),
        logout_hint = lang.msg("where-oauth-logout-may-send-the-user"),
        device_checked = if form.device { " checked" } else { "" },
        device = lang.msg("devices-without-a-browser-may-sign-in"),
        device_hint = lang.msg("the-device-shows-a-short-code-the"),
        submit = if editing { lang.msg("save") } else { lang.msg("register-application") },
        cancel = lang.msg("cancel"),
    )
}

pub(crate) fn application(lang: Lang, csrf: &str, app: &Application, new_secret: Option<&str>) -> String {
    let id = escape(&app.client_id);
    let fresh = new_secret
        .map(|secret| {
            format!(
                r#"<div class="notice"><b>{title}</b><br><span class="secret" id="new-secret">{secret}</span><br>{hint}</div>"#,
                title = lang.msg("your-new-client-secret"),
                secret = escape(secret),
                hint = lang.msg("copy-it-now-it-will-not-be"),
            )
        })
        .unwrap_or_default();
    let mut secrets = String::new();
    for secret in &app.secrets {
        let _ = write!(
            secrets,
            r#"<tr><td><code>{prefix}…</code></td><td>{created}</td><td>{used}</td><td><form class="inline" method="post" action="/account/applications/{id}/secrets/{sid}/delete">{csrf}<button class="danger" type="submit">{delete}</button></form></td></tr>"#,
            prefix = escape(&secret.prefix),
            created = when(lang, secret.created_at),
            used = when(lang, secret.last_used_at),
            sid = escape(&secret.id),
            csrf = csrf_field(csrf),
            delete = lang.msg("delete"),
        );
    }
    let secrets_section = if app.client_type == ClientType::Public as i32 {
        format!(r#"<p class="muted">{}</p>"#, lang.msg("public-clients-have-no-secret-they-use"))
    } else {
        format!(
            r#"<table><thead><tr><th>{secret}</th><th>{created}</th><th>{used}</th><th></th></tr></thead><tbody>{secrets}</tbody></table>
<form method="post" action="/account/applications/{id}/secrets">{csrf}<div class="actions"><button type="submit">{generate}</button><span class="muted">{hint}</span></div></form>"#,
            secret = lang.msg("client-secret"),
            created = lang.msg("created"),
            used = lang.msg("last-used"),
            csrf = csrf_field(csrf),
            generate = lang.msg("generate-a-new-client-secret"),
            hint = lang.msg("up-to-5-at-a-time-rotate"),
        )
    };
    let mut uris = String::new();
    for uri in &app.redirect_uris {
        let _ = write!(uris, "<li><code>{}</code></li>", isolated(uri));
    }
    format!(
        r#"<div class="card"><h1>{name}</h1>{fresh}<p class="muted">{description}</p>
<table><tr><th>Client ID</th><td><code id="client-id">{id}</code></td></tr><tr><th>{kind_label}</th><td>{kind}</td></tr>
<tr><th>{cb}</th><td><ul>{uris}</ul></td></tr><tr><th>{scopes_label}</th><td>{scopes}</td></tr></table>
<h2>{secrets_title}</h2>{secrets_section}
<div class="actions"><a class="button" href="/account/applications/{id}/edit">{edit}</a>
<form class="inline" method="post" action="/account/applications/{id}/delete">{csrf}<button class="danger" type="submit">{delete}</button></form></div></div>"#,
        name = isolated(&app.name),
        description = isolated(&app.description),
        kind_label = lang.msg("type"),
        kind = client_type_text(lang, app.client_type),
        cb = lang.msg("callback-urls"),
        scopes_label = lang.msg("allowed-scopes"),
        scopes = escape(&app.scopes.join(" ")),
        secrets_title = lang.msg("client-secrets"),
        csrf = csrf_field(csrf),
        edit = lang.msg("edit"),
        delete = lang.msg("delete-application"),
    )
}

pub(crate) fn authorizations(lang: Lang, csrf: &str, grants: &[Grant]) -> String {
    let mut rows = String::new();
    for grant in grants {
        let app = grant.application.clone().unwrap_or_default();
        let _ = write!(
            rows,
            r#"<tr><td><b>{name}</b><br><span class="muted">{home}</span></td><td>{scopes}</td><td>{created}<br><span class="muted">{used_label} {used}</span></td>
<td><form class="inline" method="post" action="/account/authorizations/{id}/revoke">{csrf}<button class="danger" type="submit">{revoke}</button></form></td></tr>"#,
            name = isolated(&app.name),
            home = isolated(&app.homepage_url),
            scopes = escape(&grant.scopes.join(" ")),
            created = when(lang, grant.created_at),
            used_label = lang.msg("last-used-column"),
            used = when(lang, grant.last_used_at),
            id = escape(&app.client_id),
            csrf = csrf_field(csrf),
            revoke = lang.msg("revoke"),
        );
    }
    if grants.is_empty() {
        rows = format!(
            r#"<tr><td colspan="4" class="muted">{}</td></tr>"#,
            lang.msg("you-have-not-authorized-any-application")
        );
    }
    format!(
        r#"<div class="card"><h1>{title}</h1><table><thead><tr><th>{app}</th><th>{scopes}</th><th>{when}</th><th></th></tr></thead><tbody>{rows}</tbody></table></div>
<p class="muted"><a href="/account/security-log">{log}</a> · <a href="/account/delete">{delete}</a></p>"#,
        log = lang.msg("security-log"),
        delete = lang.msg("delete-my-account"),
        title = lang.msg("authorized-applications"),
        app = lang.msg("application"),
        scopes = lang.msg("scopes"),
        when = lang.msg("authorized"),
    )
}

/// The Security log: the account's events from every service's audit trail.
pub(crate) fn security_log(lang: Lang, events: &[AuditEvent]) -> String {
    let mut rows = String::new();
    for event in events {
        let at = chrono::DateTime::from_timestamp_millis(event.at_ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default();
        let _ = write!(
            rows,
            r#"<tr><td>{at}</td><td><code>{action}</code></td><td>{outcome}</td><td>{actor}</td><td>{target}</td><td class="muted">{source}</td></tr>"#,
            action = escape(&event.action),
            outcome = escape(&event.outcome),
            actor = escape(&format!("{} {} ({})", event.actor_kind, event.actor_id, event.actor_via)),
            target = escape(&event.target),
            source = escape(&event.source),
        );
    }
    if events.is_empty() {
        rows = format!(r#"<tr><td colspan="6" class="muted">{}</td></tr>"#, lang.msg("nothing-recorded-yet"));
    }
    format!(
        r#"<div class="card"><h1>{title}</h1><p class="muted">{intro}</p><table><thead><tr><th>{when}</th><th>{what}</th><th>{outcome}</th><th>{who}</th><th>{target}</th><th>{from}</th></tr></thead><tbody>{rows}</tbody></table></div>"#,
        title = lang.msg("security-log"),
        intro = lang.msg("sign-ins-consents-applications-secrets-and-token"),
        when = lang.msg("when"),
        what = lang.msg("event"),
        outcome = lang.msg("outcome"),
        who = lang.msg("by"),
        target = lang.msg("on"),
        from = lang.msg("from"),
    )
}

/// The account deletion page: what is deleted, and the confirmation form.
pub(crate) fn delete_account(lang: Lang, csrf: &str, username: &str, error: Option<&str>) -> String {
    let error = error.map(|e| format!(r#"<p class="error">{}</p>"#, escape(e))).unwrap_or_default();
    format!(
        r#"<div class="card"><h1>{title}</h1><p>{warning}</p>{error}<form method="post" action="/account/delete">{csrf}
<label>{label} <b>{username}</b><input name="confirm_username" autocomplete="off" required></label>
<button class="danger" type="submit">{button}</button></form></div>"#,
        title = lang.msg("delete-account"),
        warning = lang.msg("this-deletes-your-account-and-your-applications"),
        csrf = csrf_field(csrf),
        label = lang.msg("type-your-username-to-confirm"),
        username = escape(username),
        button = lang.msg("delete-my-account"),
    )
}

/// Percent-encodes a value for a query string.
pub(crate) fn url_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Name/value pairs as a query string.
pub(crate) fn form_encode<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// The device flow's first page: type the code the device shows.
pub(crate) fn device_entry(lang: Lang, csrf: &str, user_code: &str, error: Option<&str>) -> String {
    format!(
        r#"<div class="card narrow"><h1>{title}</h1>{error}<p>{intro}</p>
<form method="post" action="/login/device">{csrf}
<label for="user_code">{label}</label><input type="text" id="user_code" name="user_code" value="{code}" autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="32" placeholder="BCDF-GHJK" required>
<div class="actions"><button class="primary" type="submit">{submit}</button></div></form></div>"#,
        title = lang.msg("connect-a-device"),
        error = error_box(error),
        intro = lang.msg("enter-the-code-shown-on-the-device"),
        csrf = csrf_field(csrf),
        label = lang.msg("code"),
        code = escape(user_code),
        submit = lang.msg("continue"),
    )
}

/// The device flow's confirmation: which application, whose, what it gets.
pub(crate) fn device_confirm(
    lang: Lang,
    csrf: &str,
    username: &str,
    found: &gatehouse_proto::pb::authorization::v1::LookupUserCodeResponse,
) -> String {
    let app = found.application.clone().unwrap_or_default();
    let mut scopes = String::new();
    for scope in &found.scopes {
        scopes.push_str(&scope_text(lang, scope));
    }
    format!(
        r#"<div class="card narrow"><h1>{title}</h1>
<p><b>{name}</b> {by} <b>{owner}</b> {wants} <b>{user}</b></p>
<p class="notice">{warning} <code>{code}</code></p>
<h2>{asks}</h2><ul class="scopes">{scopes}</ul>
<form method="post" action="/login/device/decision">{csrf}<input type="hidden" name="user_code" value="{code}">
<div class="actions"><button class="primary" type="submit" name="decision" value="approve">{approve}</button><button type="submit" name="decision" value="deny">{deny}</button></div></form></div>"#,
        title = lang.msg("authorize-a-device"),
        name = isolated(&app.name),
        by = lang.msg("by-owner-open"),
        owner = isolated(&found.owner),
        wants = lang.msg("wants-to-access-your-account-after-owner"),
        user = escape(username),
        warning = lang.msg("continue-only-if-you-started-this-on"),
        code = escape(&found.user_code),
        asks = lang.msg("this-application-will-be-able-to"),
        csrf = csrf_field(csrf),
        approve = lang.msg("authorize"),
        deny = lang.msg("deny"),
    )
}

/// The device flow's last page.
pub(crate) fn device_done(lang: Lang, approved: bool) -> String {
    let (title, text) = if approved {
        (lang.msg("device-connected"), lang.msg("you-can-return-to-your-device-it"))
    } else {
        (lang.msg("request-denied"), lang.msg("the-device-was-not-given-access-to"))
    };
    format!(r#"<div class="card narrow"><h1>{title}</h1><p>{text}</p></div>"#)
}

/// Account -> Personal access tokens: the list, a fresh token shown once,
/// and the form for a new one.
pub(crate) fn personal_tokens(
    lang: Lang,
    csrf: &str,
    tokens: &[gatehouse_proto::pb::token::v1::PersonalTokenInfo],
    catalogue: &[ScopeDescription],
    fresh: Option<&str>,
    error: Option<&str>,
) -> String {
    let fresh = fresh
        .map(|token| {
            format!(
                r#"<div class="notice"><b>{title}</b><br><span class="secret" id="new-token">{token}</span><br>{hint}</div>"#,
                title = lang.msg("your-new-personal-access-token"),
                token = escape(token),
                hint = lang.msg("copy-it-now-it-is-not-shown"),
            )
        })
        .unwrap_or_default();
    let mut rows = String::new();
    for token in tokens {
        let id = escape(&token.id);
        let used = if token.last_used_address.is_empty() {
            when(lang, token.last_used_at)
        } else {
            format!("{} ({})", when(lang, token.last_used_at), escape(&token.last_used_address))
        };
        let _ = write!(
            rows,
            r#"<tr><td><b>{name}</b></td><td>{scopes}</td><td>{created}</td><td>{expires}</td><td>{used}</td><td>
<form method="post" action="/account/tokens/{id}/regenerate">{csrf}<input type="hidden" name="expires_in_days" value="30"><button type="submit">{regenerate}</button></form>
<form method="post" action="/account/tokens/{id}/revoke">{csrf}<button class="danger" type="submit">{revoke}</button></form></td></tr>"#,
            name = escape(&token.name),
            scopes = escape(&token.scopes.join(" ")),
            created = when(lang, token.created_at),
            expires = when(lang, token.expires_at),
            csrf = csrf_field(csrf),
            regenerate = lang.msg("regenerate-30-days"),
            revoke = lang.msg("revoke-short"),
        );
    }
    let list = if tokens.is_empty() {
        format!(r#"<p class="muted">{}</p>"#, lang.msg("no-personal-access-tokens-yet"))
    } else {
        format!(
            r#"<table><thead><tr><th>{name}</th><th>{scopes}</th><th>{created}</th><th>{expires}</th><th>{used}</th><th></th></tr></thead><tbody>{rows}</tbody></table>"#,
            name = lang.msg("name"),
            scopes = lang.msg("scopes"),
            created = lang.msg("created"),
            expires = lang.msg("expires"),
            used = lang.msg("last-used"),
        )
    };
    let mut boxes = String::new();
    for scope in catalogue {
        let _ = write!(
            boxes,
            r#"<label><input type="checkbox" name="scope" value="{name}"> <b>{name}</b> <span class="muted">{text}</span></label>"#,
            name = escape(&scope.name),
            text = escape(if lang == Lang::Zh && !scope.description_zh.is_empty() {
                &scope.description_zh
            } else {
                &scope.description
            }),
        );
    }
    let mut expiry = String::new();
    for days in [7, 30, 90, 366] {
        let selected = if days == 30 { " selected" } else { "" };
        let _ =
            write!(expiry, r#"<option value="{days}"{selected}>{}</option>"#, lang.msg_days("token-expiry-days", days));
    }
    format!(
        r#"<div class="card"><h1>{title}</h1>{fresh}{error}<p class="muted">{intro}</p>{list}</div>
<div class="card"><h2>{new}</h2><form method="post" action="/account/tokens">{csrf}
<label for="name">{name_label}</label><input type="text" id="name" name="name" maxlength="100" required>
<fieldset><legend>{scopes_label}</legend>{boxes}</fieldset>
<label for="expires_in_days">{expiry_label}</label><select id="expires_in_days" name="expires_in_days">{expiry}</select>
<div class="actions"><button class="primary" type="submit">{create}</button></div></form></div>"#,
        title = lang.msg("personal-access-tokens"),
        error = error_box(error),
        intro = lang.msg("for-scripts-ci-jobs-and-git-over"),
        new = lang.msg("new-token"),
        csrf = csrf_field(csrf),
        name_label = lang.msg("name-what-it-is-for"),
        scopes_label = lang.msg("scopes"),
        expiry_label = lang.msg("expires-in"),
        create = lang.msg("create-token"),
    )
}

/// The user's resource servers, and the form that registers one.
pub(crate) fn resource_servers(
    lang: Lang,
    csrf: &str,
    servers: &[gatehouse_proto::pb::registry::v1::ResourceServer],
    error: Option<&str>,
) -> String {
    let mut rows = String::new();
    for server in servers {
        let clients = if server.any_client {
            lang.msg("any-application").to_owned()
        } else {
            escape(&server.allowed_client_ids.join(" "))
        };
        let _ = write!(
            rows,
            r#"<tr><td><b>{name}</b><br><code>{identifier}</code></td><td>{format}</td><td>{scopes}</td><td>{clients}</td><td><code>{introspector}</code></td><td>
<form method="post" action="/account/resource-servers/{id}/delete">{csrf}<button class="danger" type="submit">{delete}</button></form></td></tr>"#,
            name = escape(&server.name),
            identifier = escape(&server.identifier),
            format = escape(&server.token_format),
            scopes = escape(&server.scopes.join(" ")),
            introspector = escape(&server.introspection_client_id),
            id = escape(&server.id),
            csrf = csrf_field(csrf),
            delete = lang.msg("delete"),
        );
    }
    let list = if servers.is_empty() {
        format!(r#"<p class="muted">{}</p>"#, lang.msg("no-resource-servers-yet"))
    } else {
        format!(
            r#"<table><thead><tr><th>{name}</th><th>{format}</th><th>{scopes}</th><th>{clients}</th><th>{introspector}</th><th></th></tr></thead><tbody>{rows}</tbody></table>"#,
            name = lang.msg("name-and-identifier"),
            format = lang.msg("token-format"),
            scopes = lang.msg("scopes"),
            clients = lang.msg("applications-column"),
            introspector = lang.msg("introspects-as"),
        )
    };
    format!(
        r#"<div class="card"><h1>{title}</h1>{error}<p class="muted">{intro}</p>{list}</div>
<div class="card"><h2>{new}</h2><form method="post" action="/account/resource-servers">{csrf}
<label for="name">{name_label}</label><input type="text" id="name" name="name" maxlength="100" required>
<label for="identifier">{identifier_label}</label><input type="text" id="identifier" name="identifier" placeholder="https://api.example.com" required>
<label for="scopes">{scopes_label}</label><input type="text" id="scopes" name="scopes" placeholder="user project">
<label for="token_format">{format_label}</label><select id="token_format" name="token_format"><option value="opaque">{opaque}</option><option value="jwt">{jwt}</option></select>
<label for="allowed_client_ids">{clients_label}</label><input type="text" id="allowed_client_ids" name="allowed_client_ids">
<label><input type="checkbox" name="any_client" value="1"> {any}</label>
<label><input type="checkbox" name="application_tokens" value="1"> {application_tokens}</label>
<label for="introspection_client_id">{introspector_label}</label><input type="text" id="introspection_client_id" name="introspection_client_id">
<div class="actions"><button class="primary" type="submit">{create}</button></div></form></div>"#,
        title = lang.msg("resource-servers"),
        error = error_box(error),
        intro = lang.msg("apis-that-applications-ask-tokens-for-with"),
        new = lang.msg("register-a-resource-server"),
        application_tokens = lang.msg("also-accept-an-application-s-own-tokens"),
        csrf = csrf_field(csrf),
        name_label = lang.msg("name"),
        identifier_label = lang.msg("identifier-an-absolute-uri-the-tokens-audience"),
        scopes_label = lang.msg("scopes-it-accepts-space-separated-empty-all"),
        format_label = lang.msg("access-token-format"),
        opaque = lang.msg("opaque-introspected"),
        jwt = lang.msg("jwt-rfc-9068-verifiable-with-the-jwks"),
        clients_label = lang.msg("applications-that-may-ask-for-it-client"),
        any = lang.msg("any-application-may-ask-for-it"),
        introspector_label = lang.msg("application-it-introspects-with-optional-a-confi"),
        create = lang.msg("register"),
    )
}
