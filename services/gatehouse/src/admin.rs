//! `gatehouse user ...` and `gatehouse app ...`: operator commands, run as
//! gRPC calls to the registry (which owns the data), never as direct SQL.

use std::io::BufRead;

use gatehouse_oauth::Password;
use gatehouse_runtime::clients::RegistryClient;
use gatehouse_runtime::clients::registry::{NewApplication, NewResourceServer, NewUser};

use crate::cli::{
    AppCommand, ClientOptions, InitialTokenCommand, KeysCommand, PatCommand, RegistrationCommand, ResourceCommand,
    UserCommand,
};
use crate::failure::{Class, Failure, usage};
use crate::output;
use crate::rpc::{connect, rpc_error, services, token_service};

/// One line of standard input (`what` names it in errors), without its line break.
fn stdin_line(what: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| usage(format!("reading the {what} from standard input: {e}")))?;
    let line = line.trim_end_matches(['\n', '\r']).to_owned();
    if line.is_empty() {
        return Err(usage(format!("no {what} on standard input")));
    }
    Ok(line)
}

fn read_password() -> anyhow::Result<Password> {
    Ok(Password::new(stdin_line("password")?))
}

async fn owner_id(client: &RegistryClient, username: &str) -> anyhow::Result<String> {
    Ok(client.user_named(username).await.map_err(rpc_error)?.id)
}

/// The owner's id for a list filter; none lists everyone's (empty id).
async fn any_owner(client: &RegistryClient, username: Option<&str>) -> anyhow::Result<String> {
    match username {
        Some(username) => owner_id(client, username).await,
        None => Ok(String::new()),
    }
}

pub(crate) async fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create { username, email, display_name, password_stdin: _, client: options } => {
            let password = read_password()?;
            let new = NewUser {
                username,
                email,
                display_name: display_name.unwrap_or_default(),
                avatar_url: String::new(),
                password,
                client_address: String::new(),
                invitation: String::new(),
            };
            let user = connect(&options)?.create_user(new).await.map_err(rpc_error)?;
            output::user(options.output, &user);
        }
        UserCommand::Show { username, client: options } => {
            let user = connect(&options)?.user_named(&username).await.map_err(rpc_error)?;
            output::user(options.output, &user);
        }
        UserCommand::Delete { username, confirm, client: options } => {
            confirm.check(&format!("delete the user {username}, their applications and every token they hold"))?;
            let client = connect(&options)?;
            let user_id = owner_id(&client, &username).await?;
            client.delete_user(&user_id).await.map_err(rpc_error)?;
            output::done(options.output, &format!("deleted user {username}, its applications and every token it held"));
        }
        UserCommand::Invite { email, days, client: options } => {
            let invitation = connect(&options)?
                .create_invitation(email.as_deref().unwrap_or_default(), days)
                .await
                .map_err(rpc_error)?;
            output::invitation(options.output, &invitation);
        }
        UserCommand::GrantAdmin { username, client: options } => set_administrator(&username, true, &options).await?,
        UserCommand::RevokeAdmin { username, client: options } => set_administrator(&username, false, &options).await?,
        UserCommand::SetRole { username, role, client: options } => {
            set_administrator(&username, role == crate::cli::UserRole::Administrator, &options).await?;
        }
        UserCommand::List { query, limit, client: options } => {
            let client = connect(&options)?;
            let (mut users, mut page) = (Vec::new(), String::new());
            loop {
                let wanted = u32::try_from(users.len()).map_or(0, |have| limit.saturating_sub(have)).min(500);
                let (found, next) = client.list_users(&query, wanted, &page).await.map_err(rpc_error)?;
                users.extend(found);
                if next.is_empty() || users.len() >= limit as usize {
                    break;
                }
                page = next;
            }
            output::users(options.output, &users);
        }
        UserCommand::Disable { username, confirm, client: options } => {
            confirm.check(&format!("disable {username} and end every session and token they hold"))?;
            let client = connect(&options)?;
            let user_id = owner_id(&client, &username).await?;
            let user = client.set_user_disabled(&user_id, true).await.map_err(rpc_error)?;
            output::user(options.output, &user);
        }
        UserCommand::Enable { username, client: options } => {
            let client = connect(&options)?;
            let user_id = owner_id(&client, &username).await?;
            let user = client.set_user_disabled(&user_id, false).await.map_err(rpc_error)?;
            output::user(options.output, &user);
        }
    }
    Ok(())
}

/// The token on standard input (one line).
fn read_token() -> anyhow::Result<String> {
    Ok(stdin_line("token")?.trim().to_owned())
}

/// Revokes any token Gatehouse issued, by the value on standard input.
async fn revoke_by_value(options: &ClientOptions) -> anyhow::Result<()> {
    let token = read_token()?;
    let answer = token_service(options)?.revoke_token_by_value(&token).await.map_err(rpc_error)?;
    if !answer.found {
        return Err(Failure::error(Class::NotFound, "no such token: Gatehouse never issued it, or it is gone"));
    }
    let whose = if answer.user_id.is_empty() { answer.client_id } else { answer.user_id };
    let what = if answer.revoked_now { "revoked" } else { "already revoked:" };
    output::done(options.output, &format!("{what} a {} of {whose}", answer.token_type));
    Ok(())
}

pub(crate) async fn session(command: crate::cli::SessionCommand) -> anyhow::Result<()> {
    match command {
        crate::cli::SessionCommand::List { username, client: options } => {
            let user_id = owner_id(&connect(&options)?, &username).await?;
            let sessions = services(&options)?.authorization.sessions(&user_id, "").await.map_err(rpc_error)?;
            output::sessions(options.output, &sessions);
        }
        crate::cli::SessionCommand::Revoke { username, id, all: _, confirm, client: options } => {
            let what = id.as_ref().map_or_else(|| "every session".to_owned(), |id| format!("the session {id}"));
            confirm.check(&format!("sign {username} out of {what}"))?;
            let user_id = owner_id(&connect(&options)?, &username).await?;
            let authorization = services(&options)?.authorization;
            let ended = match id {
                Some(id) => {
                    if !authorization.sign_out_session(&user_id, &id).await.map_err(rpc_error)? {
                        return Err(Failure::error(Class::NotFound, format!("{username} has no session {id}")));
                    }
                    1
                }
                None => authorization.sign_out_other_sessions(&user_id, "").await.map_err(rpc_error)?,
            };
            output::done(options.output, &format!("signed {username} out of {ended} session(s)"));
        }
    }
    Ok(())
}

pub(crate) async fn token(command: crate::cli::TokenCommand) -> anyhow::Result<()> {
    match command {
        crate::cli::TokenCommand::Introspect { client: options } => {
            let token = read_token()?;
            let answer = token_service(&options)?.introspect_as_operator(&token).await.map_err(rpc_error)?;
            output::introspection(options.output, &answer);
        }
        crate::cli::TokenCommand::Revoke { confirm, client: options } => {
            confirm.check("revoke the token read from standard input")?;
            revoke_by_value(&options).await?;
        }
    }
    Ok(())
}

/// Grants or removes the administrator role (operators only).
async fn set_administrator(username: &str, granted: bool, options: &ClientOptions) -> anyhow::Result<()> {
    let client = connect(options)?;
    let user_id = owner_id(&client, username).await?;
    let user = client.set_user_role(&user_id, "administrator", granted).await.map_err(rpc_error)?;
    output::user(options.output, &user);
    Ok(())
}

/// `--grant-type` values, checked here so that a typo fails before any call.
fn grant_types(values: &[String]) -> anyhow::Result<Vec<String>> {
    let grants =
        gatehouse_proto::convert::grant_types_from_pb(values).map_err(|e| usage(format!("--grant-type: {e}")))?;
    Ok(gatehouse_proto::convert::grant_types_to_pb(&grants))
}

pub(crate) async fn app(command: AppCommand) -> anyhow::Result<()> {
    match command {
        AppCommand::Create {
            owner,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            scopes,
            grant_types: grants,
            description,
            homepage,
            id_token_alg,
            require_par,
            require_dpop,
            client: options,
        } => {
            let grant_types = grant_types(&grants)?;
            let client = connect(&options)?;
            let new = NewApplication {
                owner_id: owner_id(&client, &owner).await?,
                name,
                description,
                homepage_url: homepage,
                logo_url: String::new(),
                redirect_uris,
                post_logout_redirect_uris,
                public,
                grant_types,
                scopes,
                id_token_signed_response_alg: id_token_alg,
                require_pushed_authorization_requests: require_par,
                dpop_bound_access_tokens: require_dpop,
            };
            let (app, secret) = client.register_application(new).await.map_err(rpc_error)?;
            output::application(options.output, &app, Some(&secret));
        }
        AppCommand::List { owner, client: options } => {
            let client = connect(&options)?;
            let owner_id = any_owner(&client, owner.as_deref()).await?;
            let apps = client.list_applications(&owner_id).await.map_err(rpc_error)?;
            output::applications(options.output, &apps);
        }
        AppCommand::Show { id, client: options } => {
            let app = connect(&options)?.owned_application("", &id).await.map_err(rpc_error)?;
            output::application(options.output, &app, None);
        }
        AppCommand::RotateSecret { id, client: options } => {
            let (info, secret) = connect(&options)?.rotate_client_secret("", &id).await.map_err(rpc_error)?;
            output::new_secret(options.output, &id, &info, &secret);
        }
        AppCommand::Update {
            id,
            name,
            description,
            homepage,
            logo,
            redirect_uris,
            post_logout_redirect_uris,
            scopes,
            grant_types: grants,
            id_token_alg,
            require_par,
            require_dpop,
            client: options,
        } => {
            let listed = |values: Vec<String>| (!values.is_empty()).then_some(values);
            let changes = gatehouse_runtime::clients::registry::ApplicationChanges {
                name,
                description,
                homepage_url: homepage,
                logo_url: logo,
                redirect_uris: listed(redirect_uris),
                post_logout_redirect_uris: listed(post_logout_redirect_uris),
                grant_types: if grants.is_empty() { None } else { Some(grant_types(&grants)?) },
                scopes: listed(scopes),
                id_token_signed_response_alg: id_token_alg,
                require_pushed_authorization_requests: require_par,
                dpop_bound_access_tokens: require_dpop,
            };
            let app = connect(&options)?.update_application("", &id, changes).await.map_err(rpc_error)?;
            output::application(options.output, &app, None);
        }
        AppCommand::DeleteSecret { id, secret_id, confirm, client: options } => {
            confirm.check(&format!("delete the client secret {secret_id} of {id}"))?;
            connect(&options)?.delete_client_secret("", &id, &secret_id).await.map_err(rpc_error)?;
            output::done(options.output, &format!("deleted client secret {secret_id} of {id}"));
        }
        AppCommand::Delete { id, confirm, client: options } => {
            confirm.check(&format!("delete the application {id}; every token issued to it stops working"))?;
            connect(&options)?.delete_application("", &id).await.map_err(rpc_error)?;
            output::done(options.output, &format!("deleted application {id}"));
        }
    }
    Ok(())
}

pub(crate) async fn pat(command: PatCommand) -> anyhow::Result<()> {
    match command {
        PatCommand::List { username, client: options } => {
            let user_id = owner_id(&connect(&options)?, &username).await?;
            let tokens = token_service(&options)?.list_personal_tokens(&user_id).await.map_err(rpc_error)?;
            output::personal_tokens(options.output, &tokens);
        }
        PatCommand::Revoke { username, id, all: _, confirm, client: options } => {
            confirm.check(&format!("revoke personal access tokens of {username}"))?;
            let user_id = owner_id(&connect(&options)?, &username).await?;
            let id = id.unwrap_or_default();
            let revoked = token_service(&options)?.revoke_personal_tokens(&user_id, &id).await.map_err(rpc_error)?;
            output::done(options.output, &format!("revoked {revoked} personal access token(s) of {username}"));
        }
        PatCommand::RevokeValue { client: options } => revoke_by_value(&options).await?,
    }
    Ok(())
}

pub(crate) async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    let (options, keys) = match command {
        KeysCommand::List { client: options } => {
            let keys = token_service(&options)?.signing_keys().await;
            (options, keys)
        }
        KeysCommand::Rotate { alg, force, client: options } => {
            let keys = token_service(&options)?.rotate_signing_keys(alg, force).await;
            (options, keys)
        }
        KeysCommand::Retire { kid, force, confirm, client: options } => {
            confirm.check(&format!("unpublish the signing key {kid}"))?;
            let keys = token_service(&options)?.retire_signing_key(&kid, force).await;
            (options, keys)
        }
    };
    // The token service says what would force it; here, that is --force.
    let keys = keys.map_err(|status| match status.code() {
        tonic::Code::FailedPrecondition if status.message().contains("(or force the ") => {
            tonic::Status::failed_precondition(format!("{}: pass --force", status.message()))
        }
        _ => status,
    });
    output::signing_keys(options.output, &keys.map_err(rpc_error)?);
    Ok(())
}

pub(crate) async fn resource(command: ResourceCommand) -> anyhow::Result<()> {
    match command {
        ResourceCommand::Create {
            owner,
            name,
            identifier,
            scopes,
            token_format,
            allowed_client_ids,
            any_client,
            application_tokens,
            introspection_client,
            client: options,
        } => {
            let client = connect(&options)?;
            let new = NewResourceServer {
                owner_id: owner_id(&client, &owner).await?,
                name,
                identifier,
                scopes,
                token_format,
                allowed_client_ids,
                any_client,
                introspection_client_id: introspection_client,
                application_tokens,
            };
            let server = client.create_resource_server(new).await.map_err(rpc_error)?;
            output::resource_servers(options.output, std::slice::from_ref(&server), true);
        }
        ResourceCommand::List { owner, client: options } => {
            let client = connect(&options)?;
            let owner_id = any_owner(&client, owner.as_deref()).await?;
            let servers = client.list_resource_servers(&owner_id).await.map_err(rpc_error)?;
            output::resource_servers(options.output, &servers, false);
        }
        ResourceCommand::Show { id, client: options } => {
            let server = connect(&options)?.resource_server("", &id).await.map_err(rpc_error)?;
            output::resource_servers(options.output, std::slice::from_ref(&server), true);
        }
        ResourceCommand::Delete { id, confirm, client: options } => {
            confirm.check(&format!("delete the resource server {id}"))?;
            connect(&options)?.delete_resource_server("", &id).await.map_err(rpc_error)?;
            output::done(options.output, &format!("deleted resource server {id}"));
        }
    }
    Ok(())
}

pub(crate) async fn registration(command: RegistrationCommand) -> anyhow::Result<()> {
    let RegistrationCommand::Token(command) = command;
    match command {
        InitialTokenCommand::Create { description, days, client: options } => {
            let ttl_seconds = i64::try_from(days.saturating_mul(86_400)).unwrap_or(i64::MAX);
            let client = connect(&options)?;
            let (info, token) =
                client.create_initial_access_token(&description, ttl_seconds).await.map_err(rpc_error)?;
            output::initial_access_tokens(options.output, std::slice::from_ref(&info), Some(&token));
        }
        InitialTokenCommand::List { client: options } => {
            let tokens = connect(&options)?.list_initial_access_tokens().await.map_err(rpc_error)?;
            output::initial_access_tokens(options.output, &tokens, None);
        }
        InitialTokenCommand::Delete { id, confirm, client: options } => {
            confirm.check(&format!("delete the initial access token {id}"))?;
            connect(&options)?.delete_initial_access_token(&id).await.map_err(rpc_error)?;
            output::done(options.output, &format!("deleted initial access token {id}"));
        }
    }
    Ok(())
}
