//! The admin console (`/admin`): for people with the administrator role
//! only, with the same templates, languages and CSRF rule as every page, and
//! a recent sign-in for every change.
//!
//! The gateway's own refusal of a non-administrator is the first check, not
//! the only one: every call the console makes carries the administrator's
//! session ([`crate::clients::Clients::console`]), and each service's guard
//! asks afresh whether it is a live session of an enabled administrator
//! before it serves the console's rows of the policy table. A gateway
//! credential alone can list no user and rotate no key.
//!
//! Sections: an overview of the numbers an operator watches, users (search,
//! disable, delete, sessions, the administrator role), applications of every
//! owner, resource servers, registration tokens, signing keys (rotate,
//! retire) and the audit trail with filters.

use axum::extract::{Path, RawQuery, State};
use gatehouse_runtime::clients::{AuditFilter, Clients};
use http::StatusCode;

use super::extract::{FormPost, PageUser, RecentFormPost};
use super::form::FormData;
use crate::AppState;
use crate::error::GatewayError;
use crate::i18n::Lang;
use crate::render::html::{CONSOLE_HOME, OnPage, PageError, PageResult, Viewer, page, respond};
use crate::render::{console, pages, redirect};
use crate::session::Session;

/// Users listed on one page of the console.
const PAGE_SIZE: u32 = 50;

/// Audit events the trail page shows at most, per service.
const AUDIT_LIMIT: u32 = 200;

use console::COUNTED_AT_MOST as COUNT_LIMIT;

/// The administrator's request: who, in which language, and the clients
/// that act for them.
struct Console {
    session: Session,
    lang: Lang,
    clients: Clients,
}

/// The console for `session`, or the refusal of someone without the
/// administrator role (the services refuse them too).
fn console(state: &AppState, session: Session, lang: Lang) -> Result<Console, PageError> {
    if !session.user.administrator {
        return Err(GatewayError::forbidden(lang.msg("admin-only"))).for_owner(lang, CONSOLE_HOME);
    }
    let clients = state.clients.console(&session.token).for_owner(lang, CONSOLE_HOME)?;
    Ok(Console { session, lang, clients })
}

impl Console {
    fn of_page(state: &AppState, PageUser { session, lang }: PageUser) -> Result<Self, PageError> {
        console(state, session, lang)
    }

    fn of_post(state: &AppState, post: &FormPost) -> Result<Self, PageError> {
        console(state, post.session.clone(), post.lang)
    }

    /// The section's page around `body`.
    fn show(&self, section: console::Section, body: &str) -> PageResult {
        let lang = self.lang;
        let body = console::frame(lang, section, body);
        let title = section.name(lang);
        Ok(respond(StatusCode::OK, page(lang, &title, Some(Viewer { user: &self.session.user }), &body)))
    }

    fn csrf(&self) -> &str {
        &self.session.csrf_token
    }

    fn me(&self) -> &str {
        &self.session.user.id
    }
}

/// A service's answer, or the page that says why there is none.
trait Answered<T> {
    fn answered(self, lang: Lang) -> Result<T, PageError>;
}

impl<T> Answered<T> for Result<T, tonic::Status> {
    fn answered(self, lang: Lang) -> Result<T, PageError> {
        self.map_err(GatewayError::from).for_owner(lang, CONSOLE_HOME)
    }
}

fn query_of(query: Option<String>) -> FormData {
    FormData::from_body(&axum::body::Bytes::from(query.unwrap_or_default()))
}

/// *Admin → Overview*: the numbers an operator watches.
pub(crate) async fn home(State(state): State<AppState>, user: PageUser) -> PageResult {
    let console = Console::of_page(&state, user)?;
    let (lang, clients) = (console.lang, &console.clients);
    let mut users = console::UserCounts::default();
    let mut page_token = String::new();
    loop {
        let (found, next) = clients.registry.list_users("", 500, &page_token).await.answered(lang)?;
        users.add(&found);
        if next.is_empty() || users.total >= COUNT_LIMIT {
            users.more = !next.is_empty();
            break;
        }
        page_token = next;
    }
    let applications = clients.registry.list_applications("").await.answered(lang)?;
    let servers = clients.registry.list_resource_servers("").await.answered(lang)?;
    let registration_tokens = clients.registry.list_initial_access_tokens().await.answered(lang)?;
    let keys = clients.token.signing_keys().await.answered(lang)?;
    let day_ago = state.config.now_ms().saturating_sub(24 * 3600 * 1000);
    let mut last_day = Vec::new();
    for action in console::WATCHED_ACTIONS {
        let filter = AuditFilter {
            since_ms: day_ago,
            action: (*action).to_owned(),
            limit: u32::try_from(COUNT_LIMIT).unwrap_or(u32::MAX),
            ..AuditFilter::default()
        };
        let events = clients.audit_events(&filter).await.answered(lang)?;
        last_day.push((*action, events.len()));
    }
    let chains = clients.verify_audit_chains().await.answered(lang)?;
    let overview = console::Overview {
        users,
        applications: &applications,
        resource_servers: servers.len(),
        registration_tokens: registration_tokens.len(),
        keys: &keys,
        last_day,
        chains: &chains,
    };
    console.show(console::Section::Overview, &console::overview(lang, &overview))
}

/// *Admin → Users*: every account, or those matching the search, with their state.
pub(crate) async fn users(State(state): State<AppState>, user: PageUser, RawQuery(query): RawQuery) -> PageResult {
    let console = Console::of_page(&state, user)?;
    let search = query_of(query);
    let (q, page_token) = (search.text("q"), search.text("page"));
    let (users, next) = console.clients.registry.list_users(&q, PAGE_SIZE, &page_token).await.answered(console.lang)?;
    let body = pages::admin_users(console.lang, console.csrf(), console.me(), &q, &users, &next);
    console.show(console::Section::Users, &body)
}

/// *Admin → Users → one account*: its details, sessions and applications,
/// and what an administrator may change.
pub(crate) async fn user(State(state): State<AppState>, user: PageUser, Path(user_id): Path<String>) -> PageResult {
    let console = Console::of_page(&state, user)?;
    let lang = console.lang;
    let Some(account) = console.clients.registry.user(&user_id).await.answered(lang)? else {
        return Err(GatewayError::not_found(lang.msg("admin-no-such-user"))).for_owner(lang, CONSOLE_HOME);
    };
    let sessions = console.clients.authorization.sessions(&user_id, "").await.answered(lang)?;
    let applications = console.clients.registry.list_applications(&user_id).await.answered(lang)?;
    let body = console::user(lang, console.csrf(), console.me(), &account, &sessions, &applications);
    console.show(console::Section::Users, &body)
}

/// What the console changes on one account (the last segment of the form's action).
enum UserChange {
    Disable,
    Enable,
    GrantAdministrator,
    RevokeAdministrator,
    /// Ends every session (its tokens stay: disabling ends those).
    SignOut,
    /// Deletes the account with its applications, grants and tokens; the
    /// form names the username again, as the account's own deletion does.
    Delete,
}

impl UserChange {
    fn parse(segment: &str) -> Option<Self> {
        Some(match segment {
            "disable" => Self::Disable,
            "enable" => Self::Enable,
            "grant-administrator" => Self::GrantAdministrator,
            "revoke-administrator" => Self::RevokeAdministrator,
            "sign-out" => Self::SignOut,
            "delete" => Self::Delete,
            _ => return None,
        })
    }
}

/// `POST /admin/users/{id}/{change}`: one change to one account, then back
/// to its page (or to the list it was made from, or, once deleted, to the list).
pub(crate) async fn change_user(
    State(state): State<AppState>,
    Path((user_id, change)): Path<(String, String)>,
    RecentFormPost(post): RecentFormPost,
) -> PageResult {
    let console = Console::of_post(&state, &post)?;
    let lang = console.lang;
    let Some(change) = UserChange::parse(&change) else {
        return Err(GatewayError::not_found(lang.msg("admin-no-such-change"))).for_owner(lang, CONSOLE_HOME);
    };
    let (registry, authorization) = (&console.clients.registry, &console.clients.authorization);
    match change {
        UserChange::Disable | UserChange::Enable => {
            registry.set_user_disabled(&user_id, matches!(change, UserChange::Disable)).await.answered(lang)?;
        }
        UserChange::GrantAdministrator | UserChange::RevokeAdministrator => {
            let granted = matches!(change, UserChange::GrantAdministrator);
            registry.set_user_role(&user_id, "administrator", granted).await.answered(lang)?;
        }
        UserChange::SignOut => {
            authorization.sign_out_other_sessions(&user_id, "").await.answered(lang)?;
        }
        UserChange::Delete => {
            let Some(account) = registry.user(&user_id).await.answered(lang)? else {
                return Err(GatewayError::not_found(lang.msg("admin-no-such-user"))).for_owner(lang, CONSOLE_HOME);
            };
            if post.form.text("confirm") != account.username {
                let refused = GatewayError::bad_request(lang.msg("admin-type-the-username"));
                return Err(refused).for_owner(lang, CONSOLE_HOME);
            }
            registry.delete_user(&user_id).await.answered(lang)?;
            return Ok(redirect("/admin/users"));
        }
    }
    if post.form.text("back") == "list" {
        let q = post.form.text("q");
        return Ok(redirect(&format!("/admin/users?q={}", pages::url_encode(&q))));
    }
    Ok(redirect(&format!("/admin/users/{}", pages::url_encode(&user_id))))
}

/// *Admin → Applications*: every owner's applications, with their client
/// type, grant types, redirect URIs and secrets.
pub(crate) async fn applications(State(state): State<AppState>, user: PageUser) -> PageResult {
    let console = Console::of_page(&state, user)?;
    let lang = console.lang;
    let applications = console.clients.registry.list_applications("").await.answered(lang)?;
    let owners = owner_names(&console, applications.iter().map(|app| app.owner_id.as_str())).await?;
    let body = console::applications(lang, console.csrf(), &applications, &owners);
    console.show(console::Section::Applications, &body)
}

/// Deletes any owner's application (its grants and tokens end).
pub(crate) async fn delete_application(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    RecentFormPost(post): RecentFormPost,
) -> PageResult {
    let console = Console::of_post(&state, &post)?;
    console.clients.registry.delete_application("", &client_id).await.answered(console.lang)?;
    Ok(redirect("/admin/applications"))
}

/// *Admin → Resource servers*: every owner's APIs with their scopes and who may use them.
pub(crate) async fn resource_servers(State(state): State<AppState>, user: PageUser) -> PageResult {
    let console = Console::of_page(&state, user)?;
    let servers = console.clients.registry.list_resource_servers("").await.answered(console.lang)?;
    let owners = owner_names(&console, servers.iter().map(|server| server.owner_id.as_str())).await?;
    let body = console::resource_servers(console.lang, &servers, &owners);
    console.show(console::Section::ResourceServers, &body)
}

/// The usernames of the owners named, by id (an owner that is gone reads as its id).
async fn owner_names<'a>(
    console: &Console,
    owners: impl Iterator<Item = &'a str>,
) -> Result<std::collections::BTreeMap<String, String>, PageError> {
    let mut names = std::collections::BTreeMap::new();
    for owner in owners {
        if owner.is_empty() || names.contains_key(owner) {
            continue;
        }
        let account = console.clients.registry.user(owner).await.answered(console.lang)?;
        names.insert(owner.to_owned(), account.map_or_else(|| owner.to_owned(), |a| a.username));
    }
    Ok(names)
}

/// *Admin → Registration tokens*: the initial access tokens of dynamic
/// client registration (RFC 7591 §3), without their values.
pub(crate) async fn registration_tokens(State(state): State<AppState>, user: PageUser) -> PageResult {
    let console = Console::of_page(&state, user)?;
    registration_tokens_page(&console, None).await
}

async fn registration_tokens_page(console: &Console, created: Option<&str>) -> PageResult {
    let tokens = console.clients.registry.list_initial_access_tokens().await.answered(console.lang)?;
    let body = console::registration_tokens(console.lang, console.csrf(), &tokens, created);
    console.show(console::Section::RegistrationTokens, &body)
}

/// A new registration token, shown once on the page that answers the form.
pub(crate) async fn create_registration_token(
    State(state): State<AppState>,
    RecentFormPost(post): RecentFormPost,
) -> PageResult {
    let console = Console::of_post(&state, &post)?;
    let lang = console.lang;
    let description = post.form.text("description");
    let days = post.form.text("days");
    let ttl_seconds = match days.trim() {
        "" | "0" => 0,
        days => match days.parse::<i64>() {
            Ok(days @ 1..=3650) => days * 86_400,
            _ => return Err(GatewayError::bad_request(lang.msg("admin-days-between"))).for_owner(lang, CONSOLE_HOME),
        },
    };
    let (_, token) =
        console.clients.registry.create_initial_access_token(&description, ttl_seconds).await.answered(lang)?;
    registration_tokens_page(&console, Some(&token)).await
}

pub(crate) async fn delete_registration_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RecentFormPost(post): RecentFormPost,
) -> PageResult {
    let console = Console::of_post(&state, &post)?;
    console.clients.registry.delete_initial_access_token(&id).await.answered(console.lang)?;
    Ok(redirect("/admin/registration-tokens"))
}

/// *Admin → Signing keys*: every key with its state, rotation and retirement.
pub(crate) async fn keys(State(state): State<AppState>, user: PageUser) -> PageResult {
    let console = Console::of_page(&state, user)?;
    let keys = console.clients.token.signing_keys().await.answered(console.lang)?;
    let body = console::keys(console.lang, console.csrf(), &keys);
    console.show(console::Section::Keys, &body)
}

/// Rotates the keys now: the next key of each algorithm becomes active, the
/// active one retiring (still published until tokens it signed expire).
/// Refused while the next key is younger than verifiers' JWKS caches,
/// unless forced (a key believed compromised).
pub(crate) async fn rotate_keys(State(state): State<AppState>, RecentFormPost(post): RecentFormPost) -> PageResult {
    let console = Console::of_post(&state, &post)?;
    let force = post.form.text("force") == "on";
    console.clients.token.rotate_signing_keys(Vec::new(), force).await.answered(console.lang)?;
    Ok(redirect("/admin/keys"))
}

/// Retires a retiring key (tokens it signed stop verifying): refused while
/// tokens it signed may be live, unless forced.
pub(crate) async fn retire_key(
    State(state): State<AppState>,
    Path(kid): Path<String>,
    RecentFormPost(post): RecentFormPost,
) -> PageResult {
    let console = Console::of_post(&state, &post)?;
    let force = post.form.text("force") == "on";
    console.clients.token.retire_signing_key(&kid, force).await.answered(console.lang)?;
    Ok(redirect("/admin/keys"))
}

/// *Admin → Audit trail*: every service's events, newest first, filtered
/// by action, actor, target, account and age.
pub(crate) async fn audit(State(state): State<AppState>, user: PageUser, RawQuery(query): RawQuery) -> PageResult {
    let console = Console::of_page(&state, user)?;
    let lang = console.lang;
    let form = query_of(query);
    let filters = console::AuditFilters {
        action: form.text("action"),
        actor: form.text("actor"),
        target: form.text("target"),
        subject: form.text("subject"),
        hours: form.text("hours"),
    };
    let hours = match filters.hours.as_str() {
        "" => None,
        text => match text.parse::<i64>() {
            Ok(hours @ 1..=87_600) => Some(hours),
            _ => return Err(GatewayError::bad_request(lang.msg("admin-hours-between"))).for_owner(lang, CONSOLE_HOME),
        },
    };
    let filter = AuditFilter {
        since_ms: hours.map_or(0, |h| state.config.now_ms().saturating_sub(h * 3600 * 1000)),
        actor_id: filters.actor.clone(),
        action: filters.action.clone(),
        target: filters.target.clone(),
        subject_user_id: filters.subject.clone(),
        limit: AUDIT_LIMIT,
    };
    let mut events = console.clients.audit_events(&filter).await.answered(lang)?;
    events.truncate(usize::try_from(AUDIT_LIMIT).unwrap_or(usize::MAX));
    let body = console::audit(lang, &filters, &events);
    console.show(console::Section::Audit, &body)
}
