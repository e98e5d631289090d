//! The pages a person uses: bodies only; `html::page` wraps them.

use std::fmt::Write;

use gatehouse_proto::pb::authorization::v1::{ConsentRequired, Grant};
use gatehouse_proto::pb::common::v1::{AuditEvent, ClientType, ScopeDescription};
use gatehouse_proto::pb::registry::v1::Application;

use super::html::{csrf_field, escape, isolated};
use crate::i18n::Lang;

fn when(lang: Lang, unix: i64) -> String {
    if unix == 0 {
        return lang.t("never", "从未").to_owned();
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
            lang.t("New here?", "还没有账号？"),
            escape(&url_encode(next)),
            lang.t("Create an account", "注册")
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
        title = lang.t("Sign in to Gatehouse", "登录 Gatehouse"),
        error = error_box(error),
        csrf = csrf_field(form_token),
        next = escape(next),
        user_label = lang.t("Username", "用户名"),
        username = escape(username),
        pass_label = lang.t("Password", "密码"),
        submit = lang.t("Sign in", "登录"),
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
        title = lang.t("Create your account", "创建账号"),
        error = error_box(error),
        csrf = csrf_field(form_token),
        next = escape(next),
        next_q = escape(&url_encode(next)),
        user_label = lang.t("Username", "用户名"),
        username = escape(username),
        email_label = lang.t("Email", "邮箱"),
        email = escape(email),
        pass_label = lang.t("Password (at least 8 characters)", "密码（至少 8 位）"),
        submit = lang.t("Create account", "注册"),
        have = lang.t("Already have an account?", "已有账号？"),
        signin = lang.t("Sign in", "登录"),
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
        format!(r#"<h2>{}</h2><ul class="scopes muted">{list}</ul>"#, lang.t("Already authorized", "已授权"))
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
            lang.t("Described by its own metadata document, served by", "由其自身的元数据文档描述，文档来自"),
            escape(&host_of(&app.client_id))
        ),
        "dynamic" => format!(
            r#"<p class="notice">{}</p>"#,
            lang.t(
                "This application registered itself: its name is not verified by this server.",
                "该应用为自行注册：名称未经本服务器核实。"
            )
        ),
        _ => String::new(),
    };
    let redirect_host = host_of(&consent.redirect_uri);
    let local = matches!(redirect_host.as_str(), "127.0.0.1" | "[::1]" | "localhost");
    // A self-described client that comes back to this device: anyone can
    // publish such a document, so say so (the draft's SHOULD).
    let vouched = if local && app.registration == "metadata_document" {
        format!(
            r#"{vouched}<p class="notice">{}</p>"#,
            lang.t(
                "It returns to an application on this device: approve only if you started this sign-in yourself.",
                "授权后将返回本机上的应用：仅当是你本人发起的登录时才授权。"
            )
        )
    } else {
        vouched
    };
    let redirect_host = if local {
        format!("{} ({})", escape(&redirect_host), lang.t("an application on this device", "本机上的应用"))
    } else {
        escape(&redirect_host)
    };
    // RFC 8707: the APIs the tokens will work at, so the user sees where.
    let resources = if consent.resources.is_empty() {
        String::new()
    } else {
        let list: String = consent.resources.iter().map(|r| format!("<li><code>{}</code></li>", escape(r))).collect();
        format!(r#"<h2>{}</h2><ul class="scopes">{list}</ul>"#, lang.t("For use at", "用于以下服务"))
    };
    format!(
        r#"<div class="card narrow"><h1>{title}</h1>
<p><b>{name}</b> {wants} <b>{user}</b>{account}</p>{vouched}{homepage}{description}
<h2>{asks}</h2><ul class="scopes">{scopes}</ul>{granted}{resources}
<p>{redirect_note} <b>{redirect_host}</b></p><p class="muted"><code>{redirect}</code></p>
<form method="post" action="/oauth/authorize/decision">{csrf}<input type="hidden" name="request_id" value="{request_id}">
<div class="actions"><button class="primary" type="submit" name="decision" value="approve">{approve}</button><button type="submit" name="decision" value="deny">{deny}</button></div></form></div>"#,
        title = lang.t("Authorize application", "授权应用"),
        name = isolated(&app.name),
        wants = lang.t("wants to access your account", "请求访问你的账号"),
        user = escape(username),
        account = lang.t("", ""),
        description =
            if app.description.is_empty() { String::new() } else { format!("<p>{}</p>", isolated(&app.description)) },
        asks = lang.t("This application will be able to", "该应用将可以"),
        redirect_note = lang.t("You will be sent back to", "授权后将跳转到"),
        redirect = isolated(&consent.redirect_uri),
        csrf = csrf_field(csrf),
        request_id = escape(&consent.request_id),
        approve = lang.t("Authorize", "授权"),
        deny = lang.t("Deny", "拒绝"),
    )
}

/// The host of a URL as shown to a person (`[::1]` for IPv6), or the text itself.
fn host_of(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host().map(|h| h.to_string())).unwrap_or_else(|| url.to_owned())
}

pub(crate) fn logout(lang: Lang, csrf: &str) -> String {
    format!(
        r#"<div class="card narrow"><h1>{title}</h1><form method="post" action="/logout">{csrf}<div class="actions"><button class="primary" type="submit">{submit}</button></div></form></div>"#,
        title = lang.t("Sign out of Gatehouse?", "退出 Gatehouse？"),
        csrf = csrf_field(csrf),
        submit = lang.t("Sign out", "退出"),
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
        Some(name) => format!(
            "<p>{} <strong>{}</strong></p>",
            lang.t("The application asking is", "发起请求的应用："),
            escape(name)
        ),
        None => String::new(),
    };
    format!(
        r#"<div class="card narrow"><h1>{title}</h1>{who}<form method="post" action="/oauth/logout/confirm">{csrf}{hidden}<div class="actions"><button class="primary" type="submit">{submit}</button></div></form></div>"#,
        title = lang.t("Sign out of Gatehouse?", "退出 Gatehouse？"),
        csrf = csrf_field(csrf),
        submit = lang.t("Sign out", "退出"),
    )
}

pub(crate) fn signed_out(lang: Lang) -> String {
    format!(
        r#"<div class="card narrow"><h1>{title}</h1><p><a href="/login">{again}</a></p></div>"#,
        title = lang.t("You are signed out", "你已退出"),
        again = lang.t("Sign in again", "重新登录"),
    )
}

fn client_type_text(lang: Lang, client_type: i32) -> &'static str {
    if client_type == ClientType::Public as i32 {
        lang.t("public", "公开客户端")
    } else {
        lang.t("confidential", "机密客户端")
    }
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
        rows = format!(
            r#"<tr><td colspan="3" class="muted">{}</td></tr>"#,
            lang.t("No applications yet.", "还没有应用。")
        );
    }
    format!(
        r#"<div class="card"><h1>{title}</h1><p class="muted">{intro}</p>
<table><thead><tr><th>{name}</th><th>Client ID</th><th>{kind}</th></tr></thead><tbody>{rows}</tbody></table>
<div class="actions"><a class="button primary" href="/account/applications/new">{new}</a></div></div>"#,
        title = lang.t("Applications", "应用管理"),
        intro = lang.t(
            "Register an application to let it ask users for access with OAuth 2.0.",
            "注册应用后，即可通过 OAuth 2.0 请求用户授权。"
        ),
        name = lang.t("Name", "名称"),
        kind = lang.t("Type", "类型"),
        new = lang.t("Register a new application", "添加应用"),
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
            public = lang.t(
                "Public client (mobile, desktop or single-page app: no secret, PKCE required)",
                "公开客户端（移动端、桌面端或单页应用：没有密钥，必须使用 PKCE）"
            ),
            public_hint = lang.t(
                "Leave unchecked for a server-side application that can keep a secret.",
                "能保管密钥的服务端应用请勿勾选。"
            ),
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
        title = if editing { lang.t("Edit application", "编辑应用") } else { lang.t("Register a new application", "添加应用") },
        error = error_box(error),
        action = escape(action),
        csrf = csrf_field(csrf),
        name_label = lang.t("Application name", "应用名称"),
        name = escape(&form.name),
        desc_label = lang.t("Description", "应用描述"),
        description = escape(&form.description),
        home_label = lang.t("Homepage URL", "主页地址"),
        homepage = escape(&form.homepage_url),
        cb_label = lang.t("Callback URLs (one per line)", "回调地址（每行一个）"),
        uris = escape(&form.redirect_uris),
        cb_hint = lang.t(
            "After a user authorizes the application, they are sent back to one of these with an authorization code. https, or http on 127.0.0.1 / localhost.",
            "用户授权后会带着授权码跳转回其中一个地址。需要 https，或 127.0.0.1 / localhost 上的 http。"
        ),
        logout_label = lang.t("Post-logout redirect URLs (one per line, optional)", "退出登录后的跳转地址（每行一个，可选）"),
        logout_uris = escape(&form.post_logout_redirect_uris),
        logout_hint = lang.t(
            "Where /oauth/logout may send the user back after signing out (OpenID Connect). Empty: the callback URLs.",
            "/oauth/logout 退出登录后可以跳转回的地址（OpenID Connect）。留空则使用回调地址。"
        ),
        device_checked = if form.device { " checked" } else { "" },
        device = lang.t(
            "Devices without a browser may sign in (device flow: CLIs, TVs)",
            "允许没有浏览器的设备登录（设备授权流程：命令行工具、电视等）"
        ),
        device_hint = lang.t(
            "The device shows a short code; the user enters it at /login/device and approves there.",
            "设备显示一个短码，用户在 /login/device 输入并确认授权。"
        ),
        submit = if editing { lang.t("Save", "保存") } else { lang.t("Register application", "创建应用") },
        cancel = lang.t("Cancel", "取消"),
    )
}

pub(crate) fn application(lang: Lang, csrf: &str, app: &Application, new_secret: Option<&str>) -> String {
    let id = escape(&app.client_id);
    let fresh = new_secret
        .map(|secret| {
            format!(
                r#"<div class="notice"><b>{title}</b><br><span class="secret" id="new-secret">{secret}</span><br>{hint}</div>"#,
                title = lang.t("Your new client secret", "新的客户端密钥"),
                secret = escape(secret),
                hint = lang.t("Copy it now: it will not be shown again.", "请立即复制保存：它不会再次显示。"),
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
            delete = lang.t("Delete", "删除"),
        );
    }
    let secrets_section = if app.client_type == ClientType::Public as i32 {
        format!(
            r#"<p class="muted">{}</p>"#,
            lang.t("Public clients have no secret; they use PKCE.", "公开客户端没有密钥，使用 PKCE。")
        )
    } else {
        format!(
            r#"<table><thead><tr><th>{secret}</th><th>{created}</th><th>{used}</th><th></th></tr></thead><tbody>{secrets}</tbody></table>
<form method="post" action="/account/applications/{id}/secrets">{csrf}<div class="actions"><button type="submit">{generate}</button><span class="muted">{hint}</span></div></form>"#,
            secret = lang.t("Client secret", "客户端密钥"),
            created = lang.t("Created", "创建时间"),
            used = lang.t("Last used", "最近使用"),
            csrf = csrf_field(csrf),
            generate = lang.t("Generate a new client secret", "生成新的客户端密钥"),
            hint = lang.t(
                "Up to 5 at a time: rotate without downtime, then delete the old one.",
                "最多同时 5 个：先部署新密钥，再删除旧密钥，不影响服务。"
            ),
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
        kind_label = lang.t("Type", "类型"),
        kind = client_type_text(lang, app.client_type),
        cb = lang.t("Callback URLs", "回调地址"),
        scopes_label = lang.t("Allowed scopes", "可申请的权限"),
        scopes = escape(&app.scopes.join(" ")),
        secrets_title = lang.t("Client secrets", "客户端密钥"),
        csrf = csrf_field(csrf),
        edit = lang.t("Edit", "编辑"),
        delete = lang.t("Delete application", "删除应用"),
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
            used_label = lang.t("last used", "最近使用"),
            used = when(lang, grant.last_used_at),
            id = escape(&app.client_id),
            csrf = csrf_field(csrf),
            revoke = lang.t("Revoke", "撤销授权"),
        );
    }
    if grants.is_empty() {
        rows = format!(
            r#"<tr><td colspan="4" class="muted">{}</td></tr>"#,
            lang.t("You have not authorized any application.", "你还没有授权任何应用。")
        );
    }
    format!(
        r#"<div class="card"><h1>{title}</h1><table><thead><tr><th>{app}</th><th>{scopes}</th><th>{when}</th><th></th></tr></thead><tbody>{rows}</tbody></table></div>
<p class="muted"><a href="/account/security-log">{log}</a> · <a href="/account/delete">{delete}</a></p>"#,
        log = lang.t("Security log", "安全日志"),
        delete = lang.t("Delete my account", "注销我的账号"),
        title = lang.t("Authorized applications", "已授权应用"),
        app = lang.t("Application", "应用"),
        scopes = lang.t("Scopes", "权限"),
        when = lang.t("Authorized", "授权时间"),
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
        rows =
            format!(r#"<tr><td colspan="6" class="muted">{}</td></tr>"#, lang.t("Nothing recorded yet.", "暂无记录。"));
    }
    format!(
        r#"<div class="card"><h1>{title}</h1><p class="muted">{intro}</p><table><thead><tr><th>{when}</th><th>{what}</th><th>{outcome}</th><th>{who}</th><th>{target}</th><th>{from}</th></tr></thead><tbody>{rows}</tbody></table></div>"#,
        title = lang.t("Security log", "安全日志"),
        intro = lang.t(
            "Sign-ins, consents, applications, secrets and tokens of your account, newest first.",
            "你账号的登录、授权、应用、密钥和令牌记录，最新的在前。"
        ),
        when = lang.t("When", "时间"),
        what = lang.t("Event", "事件"),
        outcome = lang.t("Outcome", "结果"),
        who = lang.t("By", "操作者"),
        target = lang.t("On", "对象"),
        from = lang.t("From", "来源"),
    )
}

/// The account deletion page: what is deleted, and the confirmation form.
pub(crate) fn delete_account(lang: Lang, csrf: &str, username: &str, error: Option<&str>) -> String {
    let error = error.map(|e| format!(r#"<p class="error">{}</p>"#, escape(e))).unwrap_or_default();
    format!(
        r#"<div class="card"><h1>{title}</h1><p>{warning}</p>{error}<form method="post" action="/account/delete">{csrf}
<label>{label} <b>{username}</b><input name="confirm_username" autocomplete="off" required></label>
<button class="danger" type="submit">{button}</button></form></div>"#,
        title = lang.t("Delete account", "注销账号"),
        warning = lang.t(
            "This deletes your account and your applications at once. Every token issued to you or to your applications stops working, and every application you authorized loses its access. It cannot be undone.",
            "这会立即删除你的账号和你的应用。签发给你或你的应用的所有令牌立即失效，你授权过的应用全部失去访问权限。此操作无法撤销。"
        ),
        csrf = csrf_field(csrf),
        label = lang.t("Type your username to confirm:", "输入你的用户名以确认："),
        username = escape(username),
        button = lang.t("Delete my account", "注销我的账号"),
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
        title = lang.t("Connect a device", "连接设备"),
        error = error_box(error),
        intro = lang.t(
            "Enter the code shown on the device or in the terminal you are signing in to.",
            "输入你正在登录的设备或终端上显示的代码。"
        ),
        csrf = csrf_field(csrf),
        label = lang.t("Code", "代码"),
        code = escape(user_code),
        submit = lang.t("Continue", "继续"),
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
        title = lang.t("Authorize a device", "授权设备"),
        name = isolated(&app.name),
        by = lang.t("by", "（开发者"),
        owner = isolated(&found.owner),
        wants = lang.t("wants to access your account", "）请求访问你的账号"),
        user = escape(username),
        warning = lang.t(
            "Continue only if you started this on a device you are using now and it shows this code:",
            "仅当这是你正在使用的设备发起的请求、并且设备上显示的是这个代码时才继续："
        ),
        code = escape(&found.user_code),
        asks = lang.t("This application will be able to", "该应用将可以"),
        csrf = csrf_field(csrf),
        approve = lang.t("Authorize", "授权"),
        deny = lang.t("Deny", "拒绝"),
    )
}

/// The device flow's last page.
pub(crate) fn device_done(lang: Lang, approved: bool) -> String {
    let (title, text) = if approved {
        (
            lang.t("Device connected", "设备已连接"),
            lang.t("You can return to your device: it is signed in.", "你可以回到设备上继续，它已经登录。"),
        )
    } else {
        (
            lang.t("Request denied", "已拒绝"),
            lang.t("The device was not given access to your account.", "该设备没有获得访问你账号的权限。"),
        )
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
                title = lang.t("Your new personal access token", "新的个人访问令牌"),
                token = escape(token),
                hint = lang.t("Copy it now: it is not shown again.", "请立即复制，之后不会再显示。"),
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
            regenerate = lang.t("Regenerate (30 days)", "重新生成（30 天）"),
            revoke = lang.t("Revoke", "撤销"),
        );
    }
    let list = if tokens.is_empty() {
        format!(r#"<p class="muted">{}</p>"#, lang.t("No personal access tokens yet.", "还没有个人访问令牌。"))
    } else {
        format!(
            r#"<table><thead><tr><th>{name}</th><th>{scopes}</th><th>{created}</th><th>{expires}</th><th>{used}</th><th></th></tr></thead><tbody>{rows}</tbody></table>"#,
            name = lang.t("Name", "名称"),
            scopes = lang.t("Scopes", "权限"),
            created = lang.t("Created", "创建时间"),
            expires = lang.t("Expires", "过期时间"),
            used = lang.t("Last used", "最近使用"),
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
    for (days, en, zh) in
        [(7, "7 days", "7 天"), (30, "30 days", "30 天"), (90, "90 days", "90 天"), (366, "366 days", "366 天")]
    {
        let selected = if days == 30 { " selected" } else { "" };
        let _ = write!(expiry, r#"<option value="{days}"{selected}>{}</option>"#, lang.t(en, zh));
    }
    format!(
        r#"<div class="card"><h1>{title}</h1>{fresh}{error}<p class="muted">{intro}</p>{list}</div>
<div class="card"><h2>{new}</h2><form method="post" action="/account/tokens">{csrf}
<label for="name">{name_label}</label><input type="text" id="name" name="name" maxlength="100" required>
<fieldset><legend>{scopes_label}</legend>{boxes}</fieldset>
<label for="expires_in_days">{expiry_label}</label><select id="expires_in_days" name="expires_in_days">{expiry}</select>
<div class="actions"><button class="primary" type="submit">{create}</button></div></form></div>"#,
        title = lang.t("Personal access tokens", "个人访问令牌"),
        error = error_box(error),
        intro = lang.t(
            "For scripts, CI jobs and git over HTTPS: send one as Authorization: token … or Bearer …. It can do what its scopes allow, until it expires or you revoke it.",
            "用于脚本、CI 任务和 HTTPS 上的 git：以 Authorization: token … 或 Bearer … 发送。它只能做其权限允许的事，直到过期或被撤销。"
        ),
        new = lang.t("New token", "新建令牌"),
        csrf = csrf_field(csrf),
        name_label = lang.t("Name (what it is for)", "名称（用途）"),
        scopes_label = lang.t("Scopes", "权限"),
        expiry_label = lang.t("Expires in", "有效期"),
        create = lang.t("Create token", "创建令牌"),
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
            lang.t("any application", "所有应用").to_owned()
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
            delete = lang.t("Delete", "删除"),
        );
    }
    let list = if servers.is_empty() {
        format!(r#"<p class="muted">{}</p>"#, lang.t("No resource servers yet.", "还没有资源服务器。"))
    } else {
        format!(
            r#"<table><thead><tr><th>{name}</th><th>{format}</th><th>{scopes}</th><th>{clients}</th><th>{introspector}</th><th></th></tr></thead><tbody>{rows}</tbody></table>"#,
            name = lang.t("Name and identifier", "名称与标识"),
            format = lang.t("Tokens", "令牌格式"),
            scopes = lang.t("Scopes", "权限"),
            clients = lang.t("Applications", "应用"),
            introspector = lang.t("Introspects as", "内省使用的应用"),
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
        title = lang.t("Resource servers", "资源服务器"),
        error = error_box(error),
        intro = lang.t(
            "APIs that applications ask tokens for with the resource parameter (RFC 8707): the tokens' audience is the identifier, and other APIs refuse them.",
            "应用通过 resource 参数（RFC 8707）为这些 API 申请令牌：令牌的受众是该标识，其他 API 会拒绝它。"
        ),
        new = lang.t("Register a resource server", "添加资源服务器"),
        application_tokens = lang.t(
            "Also accept an application's own tokens (client_credentials, no user)",
            "也接受应用自身的令牌（client_credentials，无用户）"
        ),
        csrf = csrf_field(csrf),
        name_label = lang.t("Name", "名称"),
        identifier_label = lang.t("Identifier (an absolute URI, the tokens' audience)", "标识（绝对 URI，即令牌的受众）"),
        scopes_label = lang.t("Scopes it accepts (space-separated; empty: all)", "接受的权限（空格分隔；留空表示全部）"),
        format_label = lang.t("Access token format", "访问令牌格式"),
        opaque = lang.t("Opaque (introspected)", "不透明令牌（通过内省校验）"),
        jwt = lang.t("JWT (RFC 9068, verifiable with the JWKS)", "JWT（RFC 9068，可用 JWKS 校验）"),
        clients_label = lang.t("Applications that may ask for it (client ids, space-separated)", "可以申请它的应用（client id，空格分隔）"),
        any = lang.t("Any application may ask for it", "所有应用都可以申请"),
        introspector_label = lang.t(
            "Application it introspects with (optional: a confidential application of yours)",
            "用于内省的应用（可选：你的一个机密应用）"
        ),
        create = lang.t("Register", "创建"),
    )
}
