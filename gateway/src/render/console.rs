//! The admin console's pages: bodies only, each under the console's own
//! navigation, in the same layout, templates and languages as every page.

use std::collections::BTreeMap;

use askama::Template;
use gatehouse_proto::convert::Account;
use gatehouse_proto::pb::authorization::v1::SessionInfo;
use gatehouse_proto::pb::common::v1::{AuditEvent, ClientType, VerifyAuditChainResponse};
use gatehouse_proto::pb::registry::v1::{Application, InitialAccessToken, ResourceServer};
use gatehouse_proto::pb::token::v1::SigningKey;

use super::pages::{render, url_encode, utc};
use crate::i18n::Lang;

/// The console's sections, in the order of its navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Overview,
    Users,
    Applications,
    ResourceServers,
    RegistrationTokens,
    Keys,
    Audit,
}

impl Section {
    const ALL: [Self; 7] = [
        Self::Overview,
        Self::Users,
        Self::Applications,
        Self::ResourceServers,
        Self::RegistrationTokens,
        Self::Keys,
        Self::Audit,
    ];

    /// The section's name in `lang`.
    pub(crate) fn name(self, lang: Lang) -> String {
        match self {
            Self::Overview => lang.msg("admin-overview"),
            Self::Users => lang.msg("admin-users"),
            Self::Applications => lang.msg("admin-applications"),
            Self::ResourceServers => lang.msg("admin-resource-servers"),
            Self::RegistrationTokens => lang.msg("admin-registration-tokens"),
            Self::Keys => lang.msg("admin-keys"),
            Self::Audit => lang.msg("admin-audit"),
        }
    }

    const fn href(self) -> &'static str {
        match self {
            Self::Overview => "/admin",
            Self::Users => "/admin/users",
            Self::Applications => "/admin/applications",
            Self::ResourceServers => "/admin/resource-servers",
            Self::RegistrationTokens => "/admin/registration-tokens",
            Self::Keys => "/admin/keys",
            Self::Audit => "/admin/audit",
        }
    }
}

struct Tab {
    href: &'static str,
    name: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "admin_nav.html")]
struct Nav {
    lang: Lang,
    tabs: Vec<Tab>,
}

/// `body` under the console's navigation, `section` marked as the current page.
pub(crate) fn frame(lang: Lang, section: Section, body: &str) -> String {
    let tabs =
        Section::ALL.into_iter().map(|s| Tab { href: s.href(), name: s.name(lang), current: s == section }).collect();
    let mut page = render(&Nav { lang, tabs });
    page.push_str(body);
    page
}

/// The audit actions the overview counts over the last day.
pub(crate) const WATCHED_ACTIONS: &[&str] =
    &["signin.succeeded", "signin.failed", "second_factor.failed", "passkey.failed", "signup.refused", "rpc.refused"];

/// What the overview counts at most, per number (it says "5000+" past it).
pub(crate) const COUNTED_AT_MOST: usize = 5_000;

/// The accounts, counted.
#[derive(Debug, Default)]
pub(crate) struct UserCounts {
    pub(crate) total: usize,
    pub(crate) administrators: usize,
    pub(crate) disabled: usize,
    /// More accounts than were counted.
    pub(crate) more: bool,
}

impl UserCounts {
    pub(crate) fn add(&mut self, users: &[Account]) {
        self.total += users.len();
        self.administrators += users.iter().filter(|u| u.administrator).count();
        self.disabled += users.iter().filter(|u| u.disabled).count();
    }
}

/// What the overview shows.
pub(crate) struct Overview<'a> {
    pub(crate) users: UserCounts,
    pub(crate) applications: &'a [Application],
    pub(crate) resource_servers: usize,
    pub(crate) registration_tokens: usize,
    pub(crate) keys: &'a [SigningKey],
    /// Each watched action and how many times it happened in the last day.
    pub(crate) last_day: Vec<(&'static str, usize)>,
    pub(crate) chains: &'a [VerifyAuditChainResponse],
}

struct Count {
    label: String,
    value: String,
}

struct ChainRow<'a> {
    service: &'a str,
    events: u64,
    intact: bool,
    reason: &'a str,
}

#[derive(Template)]
#[template(path = "admin_overview.html")]
struct OverviewPage<'a> {
    lang: Lang,
    accounts: Vec<Count>,
    clients: Vec<Count>,
    last_day: Vec<Count>,
    keys: Vec<KeyRow<'a>>,
    chains: Vec<ChainRow<'a>>,
}

pub(crate) fn overview(lang: Lang, overview: &Overview<'_>) -> String {
    let users = &overview.users;
    let at_least = |n: usize, more: bool| if more { format!("{n}+") } else { n.to_string() };
    let count = |label: String, value: String| Count { label, value };
    let accounts = vec![
        count(lang.msg("admin-accounts"), at_least(users.total, users.more)),
        count(lang.msg("admin-administrators"), users.administrators.to_string()),
        count(lang.msg("admin-disabled-accounts"), users.disabled.to_string()),
    ];
    let apps = overview.applications;
    let confidential = apps.iter().filter(|a| a.client_type == ClientType::Confidential as i32).count();
    let dynamic = apps.iter().filter(|a| !a.registration.is_empty()).count();
    let clients = vec![
        count(lang.msg("admin-applications"), apps.len().to_string()),
        count(lang.msg("admin-confidential"), confidential.to_string()),
        count(lang.msg("admin-public"), (apps.len() - confidential).to_string()),
        count(lang.msg("admin-registered-by-clients"), dynamic.to_string()),
        count(lang.msg("admin-resource-servers"), overview.resource_servers.to_string()),
        count(lang.msg("admin-registration-tokens"), overview.registration_tokens.to_string()),
    ];
    let last_day = overview
        .last_day
        .iter()
        .map(|(action, n)| Count { label: (*action).to_owned(), value: at_least(*n, *n >= COUNTED_AT_MOST) })
        .collect();
    let keys = overview.keys.iter().filter(|k| k.state == "active").map(|k| KeyRow::of(lang, k)).collect();
    let chains = overview
        .chains
        .iter()
        .map(|c| ChainRow { service: &c.service, events: c.events, intact: c.first_bad_seq == 0, reason: &c.reason })
        .collect();
    render(&OverviewPage { lang, accounts, clients, last_day, keys, chains })
}

struct SessionRow<'a> {
    created: String,
    last_seen: String,
    address: &'a str,
    user_agent: &'a str,
    amr: String,
}

struct AppLink<'a> {
    client_id: &'a str,
    name: &'a str,
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage<'a> {
    lang: Lang,
    csrf: &'a str,
    user: &'a Account,
    created: String,
    is_me: bool,
    sessions: Vec<SessionRow<'a>>,
    applications: Vec<AppLink<'a>>,
}

/// One account: its details, sessions and applications, and the changes an administrator may make.
pub(crate) fn user(
    lang: Lang,
    csrf: &str,
    me: &str,
    user: &Account,
    sessions: &[SessionInfo],
    applications: &[Application],
) -> String {
    let sessions = sessions
        .iter()
        .map(|s| SessionRow {
            created: utc(s.created_at),
            last_seen: utc(s.last_seen_at),
            address: &s.address,
            user_agent: &s.user_agent,
            amr: s.amr.join(" "),
        })
        .collect();
    let applications = applications.iter().map(|a| AppLink { client_id: &a.client_id, name: &a.name }).collect();
    render(&UserPage { lang, csrf, user, created: utc(user.created_at), is_me: user.id == me, sessions, applications })
}

struct AppRow<'a> {
    client_id: &'a str,
    /// The client id as a path segment.
    path: String,
    name: &'a str,
    owner: &'a str,
    owner_id: &'a str,
    confidential: bool,
    registration: &'a str,
    grant_types: String,
    redirect_uris: &'a [String],
    secrets: usize,
    created: String,
}

#[derive(Template)]
#[template(path = "admin_applications.html")]
struct ApplicationsPage<'a> {
    lang: Lang,
    csrf: &'a str,
    applications: Vec<AppRow<'a>>,
}

/// Every owner's applications; `owners` gives the owners' usernames by id.
pub(crate) fn applications(
    lang: Lang,
    csrf: &str,
    applications: &[Application],
    owners: &BTreeMap<String, String>,
) -> String {
    let applications = applications
        .iter()
        .map(|a| AppRow {
            client_id: &a.client_id,
            path: url_encode(&a.client_id),
            name: &a.name,
            owner: owners.get(&a.owner_id).map_or(a.owner_id.as_str(), String::as_str),
            owner_id: &a.owner_id,
            confidential: a.client_type == ClientType::Confidential as i32,
            registration: &a.registration,
            grant_types: a.grant_types.join(", "),
            redirect_uris: &a.redirect_uris,
            secrets: a.secrets.len(),
            created: utc(a.created_at),
        })
        .collect();
    render(&ApplicationsPage { lang, csrf, applications })
}

struct ServerRow<'a> {
    name: &'a str,
    identifier: &'a str,
    owner: &'a str,
    scopes: String,
    token_format: &'a str,
    clients: String,
}

#[derive(Template)]
#[template(path = "admin_resource_servers.html")]
struct ServersPage<'a> {
    lang: Lang,
    servers: Vec<ServerRow<'a>>,
}

/// Every owner's resource servers.
pub(crate) fn resource_servers(lang: Lang, servers: &[ResourceServer], owners: &BTreeMap<String, String>) -> String {
    let servers = servers
        .iter()
        .map(|s| ServerRow {
            name: &s.name,
            identifier: &s.identifier,
            owner: owners.get(&s.owner_id).map_or(s.owner_id.as_str(), String::as_str),
            scopes: s.scopes.join(" "),
            token_format: &s.token_format,
            clients: if s.any_client { lang.msg("admin-any-client") } else { s.allowed_client_ids.join(", ") },
        })
        .collect();
    render(&ServersPage { lang, servers })
}

struct TokenRow<'a> {
    id: &'a str,
    description: &'a str,
    created: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "admin_registration_tokens.html")]
struct TokensPage<'a> {
    lang: Lang,
    csrf: &'a str,
    tokens: Vec<TokenRow<'a>>,
    created: Option<&'a str>,
}

/// The registration tokens; `created`: the one just made, shown this once.
pub(crate) fn registration_tokens(
    lang: Lang,
    csrf: &str,
    tokens: &[InitialAccessToken],
    created: Option<&str>,
) -> String {
    let tokens = tokens
        .iter()
        .map(|t| TokenRow {
            id: &t.id,
            description: &t.description,
            created: utc(t.created_at),
            expires: if t.expires_at == 0 { lang.msg("never") } else { utc(t.expires_at) },
        })
        .collect();
    render(&TokensPage { lang, csrf, tokens, created })
}

struct KeyRow<'a> {
    kid: &'a str,
    alg: &'a str,
    state: &'a str,
    created: String,
    activated: String,
    retiring: bool,
}

impl<'a> KeyRow<'a> {
    fn of(lang: Lang, key: &'a SigningKey) -> Self {
        let at = |unix: i64| if unix == 0 { lang.msg("never") } else { utc(unix) };
        Self {
            kid: &key.kid,
            alg: &key.alg,
            state: &key.state,
            created: utc(key.created_at),
            activated: at(key.activated_at),
            retiring: key.state == "retiring",
        }
    }
}

#[derive(Template)]
#[template(path = "admin_keys.html")]
struct KeysPage<'a> {
    lang: Lang,
    csrf: &'a str,
    keys: Vec<KeyRow<'a>>,
}

/// The signing keys, the rotation button, and retirement of retiring keys.
pub(crate) fn keys(lang: Lang, csrf: &str, keys: &[SigningKey]) -> String {
    let keys = keys.iter().filter(|k| k.state != "retired").map(|k| KeyRow::of(lang, k)).collect();
    render(&KeysPage { lang, csrf, keys })
}

/// The audit page's filters, as typed.
#[derive(Debug, Default)]
pub(crate) struct AuditFilters {
    pub(crate) action: String,
    pub(crate) actor: String,
    pub(crate) target: String,
    pub(crate) subject: String,
    pub(crate) hours: String,
}

struct EventRow<'a> {
    at: String,
    service: &'a str,
    action: &'a str,
    outcome: &'a str,
    actor: String,
    target: &'a str,
    subject: &'a str,
    subject_link: String,
    source: &'a str,
    details: &'a str,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage<'a> {
    lang: Lang,
    filters: &'a AuditFilters,
    events: Vec<EventRow<'a>>,
}

/// The audit trail, filtered.
pub(crate) fn audit(lang: Lang, filters: &AuditFilters, events: &[AuditEvent]) -> String {
    let events = events
        .iter()
        .map(|e| EventRow {
            at: chrono::DateTime::from_timestamp_millis(e.at_ms)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default(),
            service: &e.service,
            action: &e.action,
            outcome: &e.outcome,
            actor: format!("{} {} ({})", e.actor_kind, e.actor_id, e.actor_via),
            target: &e.target,
            subject: &e.subject_user_id,
            subject_link: url_encode(&e.subject_user_id),
            source: &e.source,
            details: if e.details == "null" { "" } else { &e.details },
        })
        .collect();
    render(&AuditPage { lang, filters, events })
}
