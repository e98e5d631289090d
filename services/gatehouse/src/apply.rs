//! `gatehouse apply -f FILE|DIR` and `gatehouse export`: applications and
//! resource servers kept as files (in Git), applied idempotently.
//!
//! A document describes everything one owner (a username) has: its
//! applications, matched by `client_id` when given (export writes it) or
//! else by name, and its resource servers, matched by identifier. A field a
//! document leaves out is left as it is; export writes every field, so an
//! exported file manages all of them. Objects of the owner that no document
//! lists are kept, unless `--prune`. Every file is read and every change
//! planned and checked before the first one is made: a bad file changes
//! nothing and its error names the file and the line. Client secrets are
//! never in the files: a new confidential application's first secret is
//! printed once, unless the document names a `client_secret_file` (a
//! mounted Kubernetes Secret, say), whose value then is the application's
//! only secret after every apply.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use gatehouse_oauth::{ClientSecret, ClientType};
use gatehouse_proto::convert::NewResourceServer;
use gatehouse_proto::pb::registry::v1 as pb;
use gatehouse_runtime::clients::RegistryClient;
use gatehouse_runtime::clients::registry::{ApplicationChanges, NewApplication, ResourceServerChanges};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cli::{ClientOptions, OutputFormat};
use crate::failure::{Class, Failure, usage};
use crate::rpc::{connect, rpc_error};

/// Everything one owner has, as a file says it should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Document {
    /// The username whose applications and resource servers these are.
    pub(crate) owner: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) applications: Vec<AppSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) resource_servers: Vec<ResourceSpec>,
}

/// An application. `None`: left as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppSpec {
    pub(crate) name: String,
    /// Matches the application in place (a rename keeps it); written by export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<String>,
    /// A public client (no secret, PKCE); fixed once created.
    #[serde(default)]
    pub(crate) public: bool,
    pub(crate) redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) post_logout_redirect_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) grant_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) homepage_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) logo_url: Option<String>,
    /// RS256 or ES256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id_token_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) require_par: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) require_dpop: Option<bool>,
    /// A file holding the client secret (a mounted Kubernetes Secret, say;
    /// relative to the document's file): after apply it is the
    /// application's only secret. Never printed; export does not write it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_secret_file: Option<PathBuf>,
}

/// A resource server (RFC 8707). Applications are named by their name in
/// the same document, or by client id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResourceSpec {
    pub(crate) identifier: String,
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scopes: Option<Vec<String>>,
    /// `opaque` or `jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) token_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) allowed_clients: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) any_client: Option<bool>,
    /// "": none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) introspection_client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) application_tokens: Option<bool>,
}

/// A document and where it came from.
#[derive(Debug)]
struct Loaded {
    file: PathBuf,
    text: String,
    document: Document,
}

impl Loaded {
    /// The secret in `app`'s `client_secret_file` (relative to this
    /// document's file), trimmed of the line end a file ends with.
    fn secret(&self, app: &AppSpec) -> Result<Option<ClientSecret>, String> {
        let Some(path) = &app.client_secret_file else { return Ok(None) };
        let path = self.file.parent().map_or_else(|| path.clone(), |dir| dir.join(path));
        let text = std::fs::read_to_string(&path).map_err(|e| format!("client_secret_file {}: {e}", path.display()))?;
        let secret = text.trim_end_matches(['\n', '\r']);
        if !(32..=512).contains(&secret.len()) || !secret.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(format!(
                "client_secret_file {}: a client secret is 32 to 512 visible ASCII characters (no spaces)",
                path.display()
            ));
        }
        Ok(Some(ClientSecret::new(secret)))
    }

    /// An error about `needle` (a name, an identifier), at its first line in the file.
    fn error(&self, needle: &str, problem: impl std::fmt::Display) -> anyhow::Error {
        let line = self.text.lines().position(|line| !needle.is_empty() && line.contains(needle)).map_or(1, |i| i + 1);
        usage(format!("{}:{line}: {problem}", self.file.display()))
    }
}

/// The files `path` names: itself, or a folder's `*.yaml`, `*.yml` and `*.json`, by name.
fn files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json"))
        .collect();
    found.sort();
    Ok(found)
}

/// Reads every document of `paths` (YAML, several per file with `---`, or JSON).
fn load(paths: &[PathBuf]) -> anyhow::Result<Vec<Loaded>> {
    let mut loaded = Vec::new();
    for path in paths {
        for file in files(path)? {
            let text = std::fs::read_to_string(&file).map_err(|e| usage(format!("{}: {e}", file.display())))?;
            let bad = |e: &dyn std::fmt::Display| usage(format!("{}: {e}", file.display()));
            if file.extension().is_some_and(|e| e == "json") {
                let document: Document = serde_json::from_str(&text).map_err(|e| bad(&e))?;
                loaded.push(Loaded { file: file.clone(), text: text.clone(), document });
                continue;
            }
            for part in yaml_serde::Deserializer::from_str(&text) {
                let document = Document::deserialize(part).map_err(|e| bad(&e))?;
                loaded.push(Loaded { file: file.clone(), text: text.clone(), document });
            }
        }
    }
    Ok(loaded)
}

/// Checks every document alone, before anything is asked of the registry.
fn check(loaded: &[Loaded]) -> anyhow::Result<()> {
    let mut owners = BTreeMap::new();
    for source in loaded {
        let document = &source.document;
        if let Some(first) = owners.insert(document.owner.to_lowercase(), source.file.display().to_string()) {
            return Err(source
                .error(&document.owner, format!("the owner {:?} has a document in {first} already", document.owner)));
        }
        let (mut names, mut ids) = (BTreeSet::new(), BTreeSet::new());
        for app in &document.applications {
            let at = |problem: String| source.error(&app.name, format!("application {:?}: {problem}", app.name));
            if !names.insert(app.name.to_lowercase()) {
                return Err(at("listed twice".to_owned()));
            }
            if let Some(id) = &app.client_id
                && !ids.insert(id.clone())
            {
                return Err(at(format!("client_id {id} listed twice")));
            }
            let grants = gatehouse_proto::convert::grant_types_from_pb(app.grant_types.as_deref().unwrap_or_default())
                .map_err(|e| at(format!("grant_types: {e}")))?;
            let client_type = if app.public { ClientType::Public } else { ClientType::Confidential };
            let post_logout = app.post_logout_redirect_uris.as_deref().unwrap_or_default();
            gatehouse_registry::checks::application(gatehouse_registry::checks::ApplicationFields {
                name: &app.name,
                description: app.description.as_deref().unwrap_or_default(),
                homepage_url: app.homepage_url.as_deref().unwrap_or_default(),
                logo_url: app.logo_url.as_deref().unwrap_or_default(),
                redirect_uris: &app.redirect_uris,
                post_logout_redirect_uris: post_logout,
                grant_types: &grants,
                client_type,
            })
            .map_err(|e| at(e.to_string()))?;
            if let Some(alg) = &app.id_token_alg
                && gatehouse_oauth::SigningAlg::registered(alg).is_none()
            {
                return Err(at(format!("id_token_alg {alg:?} is not RS256 or ES256")));
            }
            if app.client_secret_file.is_some() {
                if app.public {
                    return Err(at("a public client has no secret: drop client_secret_file".to_owned()));
                }
                source.secret(app).map_err(at)?;
            }
        }
        let mut identifiers = BTreeSet::new();
        for server in &document.resource_servers {
            let at = |problem: String| {
                source.error(&server.identifier, format!("resource server {}: {problem}", server.identifier))
            };
            if !identifiers.insert(server.identifier.clone()) {
                return Err(at("listed twice".to_owned()));
            }
            let format = server.token_format.as_deref().unwrap_or_default();
            gatehouse_registry::checks::resource_server(&server.name, &server.identifier, format)
                .map_err(|e| at(e.to_string()))?;
        }
    }
    Ok(())
}

/// One change the plan makes, or a note about an object it leaves.
#[derive(Debug)]
enum Step {
    CreateApp {
        owner_id: String,
        spec: AppSpec,
        secret: Option<ClientSecret>,
    },
    UpdateApp {
        client_id: String,
        name: String,
        changes: Vec<(&'static str, String, String)>,
        patch: ApplicationChanges,
        /// The secret of its file, when the application does not hold it alone yet.
        secret: Option<ClientSecret>,
    },
    DeleteApp {
        client_id: String,
        name: String,
    },
    CreateServer {
        owner_id: String,
        spec: ResourceSpec,
        names: BTreeMap<String, String>,
    },
    UpdateServer {
        id: String,
        spec: ResourceSpec,
        current: pb::ResourceServer,
        names: BTreeMap<String, String>,
    },
    DeleteServer {
        id: String,
        identifier: String,
    },
    /// Not in the files and kept (no `--prune`).
    Kept {
        what: String,
    },
}

fn listed(values: &[String]) -> String {
    format!("[{}]", values.join(", "))
}

fn sorted(values: &[String]) -> Vec<String> {
    let mut values = values.to_vec();
    values.sort();
    values
}

/// What `spec` changes on `app`: (field, from, to) and the update to send.
fn app_changes(spec: &AppSpec, app: &pb::Application) -> (Vec<(&'static str, String, String)>, ApplicationChanges) {
    let mut changes = Vec::new();
    let mut patch = ApplicationChanges::default();
    let mut text = |field: &'static str, want: Option<&String>, have: &str, slot: &mut Option<String>| {
        if let Some(want) = want.filter(|want| want.trim() != have) {
            changes.push((field, have.to_owned(), want.clone()));
            *slot = Some(want.clone());
        }
    };
    text("name", Some(&spec.name), &app.name, &mut patch.name);
    text("description", spec.description.as_ref(), &app.description, &mut patch.description);
    text("homepage_url", spec.homepage_url.as_ref(), &app.homepage_url, &mut patch.homepage_url);
    text("logo_url", spec.logo_url.as_ref(), &app.logo_url, &mut patch.logo_url);
    let current_alg =
        if app.id_token_signed_response_alg.is_empty() { "RS256" } else { &app.id_token_signed_response_alg };
    text("id_token_alg", spec.id_token_alg.as_ref(), current_alg, &mut patch.id_token_signed_response_alg);
    let mut list = |field: &'static str,
                    want: Option<&Vec<String>>,
                    have: &[String],
                    slot: &mut Option<Vec<String>>,
                    ordered: bool| {
        let differs = |want: &Vec<String>| if ordered { want.as_slice() != have } else { sorted(want) != sorted(have) };
        if let Some(want) = want.filter(|want| differs(want)) {
            changes.push((field, listed(have), listed(want)));
            *slot = Some(want.clone());
        }
    };
    list("redirect_uris", Some(&spec.redirect_uris), &app.redirect_uris, &mut patch.redirect_uris, true);
    list(
        "post_logout_redirect_uris",
        spec.post_logout_redirect_uris.as_ref(),
        &app.post_logout_redirect_uris,
        &mut patch.post_logout_redirect_uris,
        true,
    );
    list("grant_types", spec.grant_types.as_ref(), &app.grant_types, &mut patch.grant_types, false);
    list("scopes", spec.scopes.as_ref(), &app.scopes, &mut patch.scopes, false);
    let mut flag = |field: &'static str, want: Option<bool>, have: bool, slot: &mut Option<bool>| {
        if let Some(want) = want.filter(|want| *want != have) {
            changes.push((field, have.to_string(), want.to_string()));
            *slot = Some(want);
        }
    };
    flag(
        "require_par",
        spec.require_par,
        app.require_pushed_authorization_requests,
        &mut patch.require_pushed_authorization_requests,
    );
    flag("require_dpop", spec.require_dpop, app.dpop_bound_access_tokens, &mut patch.dpop_bound_access_tokens);
    (changes, patch)
}

/// Client ids of the names a resource server lists (names of the document's
/// applications, or client ids as they are).
fn resolve(names: &BTreeMap<String, String>, values: &[String]) -> Vec<String> {
    values.iter().map(|value| names.get(value).cloned().unwrap_or_else(|| value.clone())).collect()
}

/// What `spec` changes on `server`.
fn server_changes(
    spec: &ResourceSpec,
    server: &pb::ResourceServer,
    names: &BTreeMap<String, String>,
) -> (Vec<(&'static str, String, String)>, ResourceServerChanges) {
    let mut changes = Vec::new();
    let mut patch = ResourceServerChanges::default();
    if spec.name != server.name {
        changes.push(("name", server.name.clone(), spec.name.clone()));
        patch.name = Some(spec.name.clone());
    }
    if let Some(scopes) = spec.scopes.as_ref().filter(|s| sorted(s) != sorted(&server.scopes)) {
        changes.push(("scopes", listed(&server.scopes), listed(scopes)));
        patch.scopes = Some(scopes.clone());
    }
    if let Some(format) = spec.token_format.as_ref().filter(|f| **f != server.token_format) {
        changes.push(("token_format", server.token_format.clone(), format.clone()));
        patch.token_format = Some(format.clone());
    }
    if let Some(clients) = spec.allowed_clients.as_ref().map(|c| resolve(names, c))
        && sorted(&clients) != sorted(&server.allowed_client_ids)
    {
        changes.push(("allowed_clients", listed(&server.allowed_client_ids), listed(&clients)));
        patch.allowed_client_ids = Some(clients);
    }
    if let Some(any) = spec.any_client.filter(|any| *any != server.any_client) {
        changes.push(("any_client", server.any_client.to_string(), any.to_string()));
        patch.any_client = Some(any);
    }
    if let Some(client) = spec.introspection_client.as_ref() {
        let client = names.get(client).cloned().unwrap_or_else(|| client.clone());
        if client != server.introspection_client_id {
            changes.push(("introspection_client", server.introspection_client_id.clone(), client.clone()));
            patch.introspection_client_id = Some(client);
        }
    }
    if let Some(tokens) = spec.application_tokens.filter(|t| *t != server.application_tokens) {
        changes.push(("application_tokens", server.application_tokens.to_string(), tokens.to_string()));
        patch.application_tokens = Some(tokens);
    }
    (changes, patch)
}

/// The steps that bring the registry to what `loaded` says.
async fn plan(client: &RegistryClient, loaded: &[Loaded], prune: bool) -> anyhow::Result<Vec<Step>> {
    let mut steps = Vec::new();
    let mut servers_later = Vec::new();
    for source in loaded {
        let document = &source.document;
        let owner = match client.user_named(&document.owner).await {
            Ok(owner) => owner,
            Err(status) if status.code() == tonic::Code::NotFound => {
                return Err(source.error(&document.owner, format!("no user {:?} (the owner)", document.owner)));
            }
            Err(status) => return Err(rpc_error(status)),
        };
        let current = client.list_applications(&owner.id).await.map_err(rpc_error)?;
        let mut unmatched: BTreeMap<String, pb::Application> =
            current.into_iter().map(|app| (app.client_id.clone(), app)).collect();
        // Each named application's client id: known ones now, new ones once created.
        let mut names = BTreeMap::new();
        for spec in &document.applications {
            let found = match &spec.client_id {
                Some(id) => Some(unmatched.remove(id).ok_or_else(|| {
                    source.error(
                        id,
                        format!("application {:?}: {} is not an application of {}", spec.name, id, document.owner),
                    )
                })?),
                None => {
                    let same: Vec<String> = unmatched
                        .values()
                        .filter(|app| app.name == spec.name)
                        .map(|app| app.client_id.clone())
                        .collect();
                    if same.len() > 1 {
                        return Err(source.error(
                            &spec.name,
                            format!(
                                "application {:?}: {} applications have this name; give its client_id",
                                spec.name,
                                same.len()
                            ),
                        ));
                    }
                    same.first().and_then(|id| unmatched.remove(id))
                }
            };
            let secret = source.secret(spec).map_err(|e| source.error(&spec.name, e))?;
            let Some(app) = found else {
                steps.push(Step::CreateApp { owner_id: owner.id.clone(), spec: spec.clone(), secret });
                continue;
            };
            if (app.client_type == gatehouse_proto::pb::common::v1::ClientType::Public as i32) != spec.public {
                return Err(source.error(
                    &spec.name,
                    format!(
                        "application {:?}: public cannot change once created (delete it and apply again)",
                        spec.name
                    ),
                ));
            }
            names.insert(spec.name.clone(), app.client_id.clone());
            let (mut changes, patch) = app_changes(spec, &app);
            // Asked without changing anything: does the application hold the file's secret alone?
            let secret = match secret {
                Some(secret) => {
                    let differs =
                        client.set_client_secret(&app.client_id, secret.expose(), true).await.map_err(rpc_error)?;
                    differs.then(|| {
                        let file = spec.client_secret_file.as_deref().unwrap_or_else(|| Path::new("")).display();
                        changes.push(("client_secret", format!("{} secret(s)", app.secrets.len()), format!("{file}")));
                        secret
                    })
                }
                None => None,
            };
            let (client_id, name) = (app.client_id.clone(), spec.name.clone());
            steps.push(Step::UpdateApp { client_id, name, changes, patch, secret });
        }
        let servers = client.list_resource_servers(&owner.id).await.map_err(rpc_error)?;
        let mut unmatched_servers: BTreeMap<String, pb::ResourceServer> =
            servers.into_iter().map(|s| (s.identifier.clone(), s)).collect();
        for spec in &document.resource_servers {
            match unmatched_servers.remove(&spec.identifier) {
                Some(current) => servers_later.push(Step::UpdateServer {
                    id: current.id.clone(),
                    spec: spec.clone(),
                    current,
                    names: names.clone(),
                }),
                None => servers_later.push(Step::CreateServer {
                    owner_id: owner.id.clone(),
                    spec: spec.clone(),
                    names: names.clone(),
                }),
            }
        }
        for (id, server) in unmatched_servers {
            servers_later.push(if prune {
                Step::DeleteServer { id, identifier: server.identifier }
            } else {
                Step::Kept { what: format!("resource server {} of {}", server.identifier, document.owner) }
            });
        }
        for (client_id, app) in unmatched {
            servers_later.push(if prune {
                Step::DeleteApp { client_id, name: app.name }
            } else {
                Step::Kept { what: format!("application {:?} ({client_id}) of {}", app.name, document.owner) }
            });
        }
    }
    steps.extend(servers_later);
    Ok(steps)
}

/// The client ids of the applications this run created for `owner_id`
/// (by name), added to a document's names.
fn learn(names: &mut BTreeMap<String, String>, created: &BTreeMap<(String, String), String>, owner_id: &str) {
    for ((owner, name), id) in created {
        if owner == owner_id {
            names.entry(name.clone()).or_insert_with(|| id.clone());
        }
    }
}

fn change_text(changes: &[(&'static str, String, String)]) -> String {
    changes.iter().map(|(field, from, to)| format!("{field}: {from} -> {to}")).collect::<Vec<_>>().join("; ")
}

/// `gatehouse apply`.
pub(crate) async fn apply(
    paths: &[PathBuf],
    dry_run: bool,
    prune: bool,
    options: &ClientOptions,
) -> anyhow::Result<()> {
    let loaded = load(paths)?;
    if loaded.is_empty() {
        return Err(usage("no document in the files given (YAML or JSON, with an `owner`)"));
    }
    check(&loaded)?;
    let client = connect(options)?;
    let steps = plan(&client, &loaded, prune).await?;
    let would = if dry_run { "would be " } else { "" };
    let mut report = Vec::new();
    let mut created_ids = BTreeMap::new();
    let mut done = 0;
    let fail = |done: usize, error: anyhow::Error| {
        let class = error.chain().find_map(|c| c.downcast_ref::<Failure>()).map_or(Class::Failed, |f| f.class);
        Failure::error(class, format!("{error:#} (after {done} change(s); apply is idempotent: fix and run it again)"))
    };
    for step in steps {
        let entry = match step {
            Step::CreateApp { owner_id, spec, secret: provided } => {
                let mut entry =
                    json!({ "kind": "application", "name": spec.name, "action": format!("{would}created") });
                if !dry_run {
                    let owner = owner_id.clone();
                    let new = NewApplication {
                        owner_id,
                        name: spec.name.clone(),
                        description: spec.description.clone().unwrap_or_default(),
                        homepage_url: spec.homepage_url.clone().unwrap_or_default(),
                        logo_url: spec.logo_url.clone().unwrap_or_default(),
                        redirect_uris: spec.redirect_uris.clone(),
                        post_logout_redirect_uris: spec.post_logout_redirect_uris.clone().unwrap_or_default(),
                        public: spec.public,
                        grant_types: spec.grant_types.clone().unwrap_or_default(),
                        scopes: spec.scopes.clone().unwrap_or_default(),
                        id_token_signed_response_alg: spec.id_token_alg.clone().unwrap_or_default(),
                        require_pushed_authorization_requests: spec.require_par.unwrap_or_default(),
                        dpop_bound_access_tokens: spec.require_dpop.unwrap_or_default(),
                    };
                    let (app, secret) = client.register_application(new).await.map_err(|s| fail(done, rpc_error(s)))?;
                    done += 1;
                    created_ids.insert((owner, spec.name.clone()), app.client_id.clone());
                    entry["client_id"] = json!(app.client_id);
                    match provided {
                        // The generated first secret is replaced before anyone saw it.
                        Some(provided) => {
                            client
                                .set_client_secret(&app.client_id, provided.expose(), false)
                                .await
                                .map_err(|s| fail(done, rpc_error(s)))?;
                            entry["changes"] = json!("client secret from its file");
                        }
                        None if !secret.is_empty() => entry["client_secret"] = json!(secret),
                        None => {}
                    }
                }
                entry
            }
            Step::UpdateApp { client_id, name, changes, patch, secret } => {
                let action = if changes.is_empty() { "unchanged".to_owned() } else { format!("{would}updated") };
                let fields_changed = changes.iter().any(|(field, _, _)| *field != "client_secret");
                if !dry_run && fields_changed {
                    client.update_application("", &client_id, patch).await.map_err(|s| fail(done, rpc_error(s)))?;
                    done += 1;
                }
                if let Some(secret) = secret.filter(|_| !dry_run) {
                    client
                        .set_client_secret(&client_id, secret.expose(), false)
                        .await
                        .map_err(|s| fail(done, rpc_error(s)))?;
                    done += 1;
                }
                json!({ "kind": "application", "name": name, "client_id": client_id, "action": action, "changes": change_text(&changes) })
            }
            Step::CreateServer { owner_id, spec, mut names } => {
                learn(&mut names, &created_ids, &owner_id);
                if !dry_run {
                    let new = NewResourceServer {
                        owner_id,
                        name: spec.name.clone(),
                        identifier: spec.identifier.clone(),
                        scopes: spec.scopes.clone().unwrap_or_default(),
                        token_format: spec.token_format.clone().unwrap_or_default(),
                        allowed_client_ids: resolve(&names, spec.allowed_clients.as_deref().unwrap_or_default()),
                        any_client: spec.any_client.unwrap_or_default(),
                        introspection_client_id: spec
                            .introspection_client
                            .as_ref()
                            .map(|c| names.get(c).cloned().unwrap_or_else(|| c.clone()))
                            .unwrap_or_default(),
                        application_tokens: spec.application_tokens.unwrap_or_default(),
                    };
                    client.create_resource_server(new).await.map_err(|s| fail(done, rpc_error(s)))?;
                    done += 1;
                }
                json!({ "kind": "resource_server", "identifier": spec.identifier, "action": format!("{would}created") })
            }
            Step::UpdateServer { id, spec, current, mut names } => {
                learn(&mut names, &created_ids, &current.owner_id);
                let (changes, patch) = server_changes(&spec, &current, &names);
                let action = if changes.is_empty() { "unchanged".to_owned() } else { format!("{would}updated") };
                if !dry_run && !changes.is_empty() {
                    client.update_resource_server("", &id, patch).await.map_err(|s| fail(done, rpc_error(s)))?;
                    done += 1;
                }
                json!({ "kind": "resource_server", "identifier": spec.identifier, "action": action, "changes": change_text(&changes) })
            }
            Step::DeleteServer { id, identifier } => {
                if !dry_run {
                    client.delete_resource_server("", &id).await.map_err(|s| fail(done, rpc_error(s)))?;
                    done += 1;
                }
                json!({ "kind": "resource_server", "identifier": identifier, "action": format!("{would}deleted (--prune)") })
            }
            Step::DeleteApp { client_id, name } => {
                if !dry_run {
                    client.delete_application("", &client_id).await.map_err(|s| fail(done, rpc_error(s)))?;
                    done += 1;
                }
                json!({ "kind": "application", "name": name, "client_id": client_id, "action": format!("{would}deleted (--prune)") })
            }
            Step::Kept { what } => {
                json!({ "kind": "note", "name": what, "action": "not in the files; kept (--prune deletes it)" })
            }
        };
        report.push(entry);
    }
    print_report(options.output, &report);
    Ok(())
}

fn print_report(format: OutputFormat, report: &[Value]) {
    if format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(report).unwrap_or_default());
        return;
    }
    for entry in report {
        let what = match entry["kind"].as_str() {
            Some("application") => format!("application {:?}", entry["name"].as_str().unwrap_or_default()),
            Some("resource_server") => format!("resource server {}", entry["identifier"].as_str().unwrap_or_default()),
            _ => entry["name"].as_str().unwrap_or_default().to_owned(),
        };
        let mut line = format!("{what}: {}", entry["action"].as_str().unwrap_or_default());
        if let Some(id) = entry["client_id"].as_str() {
            let _ = write!(line, ", client id {id}");
        }
        if let Some(changes) = entry["changes"].as_str().filter(|c| !c.is_empty()) {
            let _ = write!(line, " ({changes})");
        }
        if let Some(secret) = entry["client_secret"].as_str() {
            let _ = write!(line, "\n  client secret {secret}   (shown once: store it now)");
        }
        println!("{line}");
    }
}

/// `gatehouse export`: the documents `apply` takes back unchanged, one per
/// owner (`owners`, or every user owning something), as YAML.
pub(crate) async fn export(owners: &[String], options: &ClientOptions) -> anyhow::Result<()> {
    let client = connect(options)?;
    let mut users = Vec::new();
    if owners.is_empty() {
        let mut ids: BTreeSet<String> =
            client.list_applications("").await.map_err(rpc_error)?.into_iter().map(|app| app.owner_id).collect();
        ids.extend(client.list_resource_servers("").await.map_err(rpc_error)?.into_iter().map(|s| s.owner_id));
        for id in ids {
            // Dynamically registered clients have no owner account: not exported.
            if let Some(user) = client.user(&id).await.map_err(rpc_error)? {
                users.push(user);
            }
        }
    } else {
        for name in owners {
            users.push(client.user_named(name).await.map_err(rpc_error)?);
        }
    }
    users.sort_by_key(|user| user.username.to_lowercase());
    let mut text = String::from("# gatehouse export: apply with `gatehouse apply -f FILE`\n");
    for user in users {
        let mut apps = client.list_applications(&user.id).await.map_err(rpc_error)?;
        apps.sort_by(|a, b| (&a.name, &a.client_id).cmp(&(&b.name, &b.client_id)));
        let names: BTreeMap<String, String> = apps.iter().map(|a| (a.client_id.clone(), a.name.clone())).collect();
        let unique = |id: &String| {
            names
                .get(id)
                .filter(|name| apps.iter().filter(|a| &a.name == *name).count() == 1)
                .cloned()
                .unwrap_or_else(|| id.clone())
        };
        let mut servers = client.list_resource_servers(&user.id).await.map_err(rpc_error)?;
        servers.sort_by(|a, b| a.identifier.cmp(&b.identifier));
        let document = Document {
            owner: user.username.clone(),
            applications: apps.iter().map(exported_app).collect(),
            resource_servers: servers
                .iter()
                .map(|s| ResourceSpec {
                    identifier: s.identifier.clone(),
                    name: s.name.clone(),
                    scopes: Some(s.scopes.clone()),
                    token_format: Some(s.token_format.clone()),
                    allowed_clients: Some(s.allowed_client_ids.iter().map(unique).collect()),
                    any_client: Some(s.any_client),
                    introspection_client: Some(if s.introspection_client_id.is_empty() {
                        String::new()
                    } else {
                        unique(&s.introspection_client_id)
                    }),
                    application_tokens: Some(s.application_tokens),
                })
                .collect(),
        };
        let yaml = yaml_serde::to_string(&document).map_err(|e| Failure::error(Class::Failed, e))?;
        text.push_str("---\n");
        text.push_str(&yaml);
    }
    print!("{text}");
    Ok(())
}

fn exported_app(app: &pb::Application) -> AppSpec {
    AppSpec {
        name: app.name.clone(),
        client_id: Some(app.client_id.clone()),
        public: app.client_type == gatehouse_proto::pb::common::v1::ClientType::Public as i32,
        redirect_uris: app.redirect_uris.clone(),
        post_logout_redirect_uris: Some(app.post_logout_redirect_uris.clone()),
        grant_types: Some(app.grant_types.clone()),
        scopes: Some(app.scopes.clone()),
        description: Some(app.description.clone()),
        homepage_url: Some(app.homepage_url.clone()),
        logo_url: Some(app.logo_url.clone()),
        id_token_alg: Some(if app.id_token_signed_response_alg.is_empty() {
            "RS256".to_owned()
        } else {
            app.id_token_signed_response_alg.clone()
        }),
        require_par: Some(app.require_pushed_authorization_requests),
        require_dpop: Some(app.dpop_bound_access_tokens),
        client_secret_file: None,
    }
}
