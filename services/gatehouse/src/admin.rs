//! `gatehouse user ...` and `gatehouse app ...`: operator commands, run as
//! gRPC calls to the registry (which owns the data), never as direct SQL.

use std::io::BufRead;

use anyhow::{Context, bail};
use gatehouse_proto::pb::common::v1 as common;
use gatehouse_proto::pb::registry::v1 as pb;
use gatehouse_proto::pb::registry::v1::registry_service_client::RegistryServiceClient;
use gatehouse_upstream::Upstream;

use crate::cli::{
    AppCommand, ClientOptions, InitialTokenCommand, KeysCommand, PatCommand, RegistrationCommand, ResourceCommand,
    UserCommand,
};
use crate::output;
use crate::rpc::{channel, connect, rpc_error};

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password)
}

async fn owner_id(client: &mut RegistryServiceClient<Upstream>, username: &str) -> anyhow::Result<String> {
    let user = client
        .get_user(pb::GetUserRequest {
            lookup: Some(pb::get_user_request::Lookup::Username(username.to_owned())),
            visible_to_scopes: None,
        })
        .await
        .map_err(rpc_error)?
        .into_inner()
        .user
        .context("registry answered without a user")?;
    Ok(user.id)
}

/// The owner's id for a list filter; none lists everyone's (empty id).
async fn any_owner(client: &mut RegistryServiceClient<Upstream>, username: Option<&str>) -> anyhow::Result<String> {
    match username {
        Some(username) => owner_id(client, username).await,
        None => Ok(String::new()),
    }
}

pub(crate) async fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create { username, email, display_name, password_stdin: _, client: options } => {
            let password = read_password()?;
            let mut client = connect(&options).await?;
            let request = pb::CreateUserRequest {
                username,
                email,
                display_name: display_name.unwrap_or_default(),
                avatar_url: String::new(),
                password,
                client_address: String::new(),
            };
            let user = client.create_user(request).await.map_err(rpc_error)?.into_inner().user;
            output::user(options.output, user.as_ref());
        }
        UserCommand::Show { username, client: options } => {
            let mut client = connect(&options).await?;
            let request = pb::GetUserRequest {
                lookup: Some(pb::get_user_request::Lookup::Username(username)),
                visible_to_scopes: None,
            };
            let user = client.get_user(request).await.map_err(rpc_error)?.into_inner().user;
            output::user(options.output, user.as_ref());
        }
        UserCommand::Delete { username, client: options } => {
            let mut client = connect(&options).await?;
            let user_id = owner_id(&mut client, &username).await?;
            client.delete_user(pb::DeleteUserRequest { user_id }).await.map_err(rpc_error)?;
            output::done(options.output, &format!("deleted user {username}, its applications and every token it held"));
        }
        UserCommand::GrantAdmin { username, client: options } => set_administrator(&username, true, &options).await?,
        UserCommand::RevokeAdmin { username, client: options } => set_administrator(&username, false, &options).await?,
    }
    Ok(())
}

/// Grants or removes the administrator role (operators only).
async fn set_administrator(username: &str, granted: bool, options: &ClientOptions) -> anyhow::Result<()> {
    let mut client = connect(options).await?;
    let user_id = owner_id(&mut client, username).await?;
    let request = pb::SetUserRoleRequest { user_id, role: "administrator".to_owned(), granted };
    let user = client.set_user_role(request).await.map_err(rpc_error)?.into_inner().user;
    output::user(options.output, user.as_ref());
    Ok(())
}

/// `--grant-type` values, checked here so that a typo fails before any call.
fn grant_types(values: &[String]) -> anyhow::Result<Vec<String>> {
    let grants =
        gatehouse_proto::convert::grant_types_from_pb(values).map_err(|e| anyhow::anyhow!("--grant-type: {e}"))?;
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
            client: options,
        } => {
            let grant_types = grant_types(&grants)?;
            let mut client = connect(&options).await?;
            let owner_id = owner_id(&mut client, &owner).await?;
            let client_type = if public { common::ClientType::Public } else { common::ClientType::Confidential };
            let request = pb::RegisterApplicationRequest {
                owner_id,
                name,
                description,
                homepage_url: homepage,
                logo_url: String::new(),
                redirect_uris,
                client_type: client_type as i32,
                grant_types,
                scopes,
                post_logout_redirect_uris,
            };
            let response = client.register_application(request).await.map_err(rpc_error)?.into_inner();
            output::application(options.output, response.application.as_ref(), Some(&response.client_secret));
        }
        AppCommand::List { owner, client: options } => {
            let mut client = connect(&options).await?;
            let owner_id = any_owner(&mut client, owner.as_deref()).await?;
            let apps = client
                .list_applications(pb::ListApplicationsRequest { owner_id })
                .await
                .map_err(rpc_error)?
                .into_inner()
                .applications;
            output::applications(options.output, &apps);
        }
        AppCommand::Show { id, client: options } => {
            let mut client = connect(&options).await?;
            let app = client
                .get_application(pb::GetApplicationRequest {
                    client_id: id,
                    acting_owner_id: String::new(),
                    client_address: String::new(),
                })
                .await
                .map_err(rpc_error)?
                .into_inner()
                .application;
            output::application(options.output, app.as_ref(), None);
        }
        AppCommand::RotateSecret { id, client: options } => {
            let mut client = connect(&options).await?;
            let response = client
                .rotate_client_secret(pb::RotateClientSecretRequest {
                    client_id: id.clone(),
                    acting_owner_id: String::new(),
                })
                .await
                .map_err(rpc_error)?
                .into_inner();
            output::new_secret(options.output, &id, response.secret.as_ref(), &response.client_secret);
        }
        AppCommand::DeleteSecret { id, secret_id, client: options } => {
            let mut client = connect(&options).await?;
            client
                .delete_client_secret(pb::DeleteClientSecretRequest {
                    client_id: id.clone(),
                    secret_id: secret_id.clone(),
                    acting_owner_id: String::new(),
                })
                .await
                .map_err(rpc_error)?;
            output::done(options.output, &format!("deleted client secret {secret_id} of {id}"));
        }
        AppCommand::Delete { id, client: options } => {
            let mut client = connect(&options).await?;
            client
                .delete_application(pb::DeleteApplicationRequest {
                    client_id: id.clone(),
                    acting_owner_id: String::new(),
                })
                .await
                .map_err(rpc_error)?;
            output::done(options.output, &format!("deleted application {id}"));
        }
    }
    Ok(())
}

async fn token_service(
    options: &ClientOptions,
) -> anyhow::Result<gatehouse_proto::pb::token::v1::token_service_client::TokenServiceClient<Upstream>> {
    let channel = channel(options, &options.token_url, "GATEHOUSE_TOKEN_URL")?;
    Ok(gatehouse_proto::pb::token::v1::token_service_client::TokenServiceClient::new(channel))
}

pub(crate) async fn pat(command: PatCommand) -> anyhow::Result<()> {
    use gatehouse_proto::pb::token::v1 as token_pb;
    match command {
        PatCommand::List { username, client: options } => {
            let user_id = owner_id(&mut connect(&options).await?, &username).await?;
            let request = token_pb::ListPersonalTokensRequest { user_id };
            let tokens = token_service(&options).await?.list_personal_tokens(request).await.map_err(rpc_error)?;
            output::personal_tokens(options.output, &tokens.into_inner().tokens);
        }
        PatCommand::Revoke { username, id, all: _, client: options } => {
            let user_id = owner_id(&mut connect(&options).await?, &username).await?;
            let request = token_pb::RevokePersonalTokensRequest { user_id, id: id.unwrap_or_default() };
            let revoked =
                token_service(&options).await?.revoke_personal_tokens(request).await.map_err(rpc_error)?.into_inner();
            output::done(
                options.output,
                &format!("revoked {} personal access token(s) of {username}", revoked.revoked),
            );
        }
        PatCommand::RevokeValue { client: options } => {
            let mut token = String::new();
            std::io::stdin().lock().read_line(&mut token).context("read the token from standard input")?;
            let request = token_pb::RevokeTokenByValueRequest { token: token.trim().to_owned() };
            let answer =
                token_service(&options).await?.revoke_token_by_value(request).await.map_err(rpc_error)?.into_inner();
            if answer.found {
                let whose = if answer.user_id.is_empty() { answer.client_id } else { answer.user_id };
                let what = if answer.revoked_now { "revoked" } else { "already revoked:" };
                output::done(options.output, &format!("{what} a {} of {whose}", answer.token_type));
            } else {
                bail!("no such token: Gatehouse never issued it, or it is gone");
            }
        }
    }
    Ok(())
}

pub(crate) async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    use gatehouse_proto::pb::token::v1 as token_pb;
    let (options, answer) = match command {
        KeysCommand::List { client: options } => {
            let answer = token_service(&options).await?.list_signing_keys(token_pb::ListSigningKeysRequest {}).await;
            (options, answer)
        }
        KeysCommand::Rotate { alg, force, client: options } => {
            let request = token_pb::RotateSigningKeysRequest { algs: alg, force };
            (options.clone(), token_service(&options).await?.rotate_signing_keys(request).await)
        }
        KeysCommand::Retire { kid, force, client: options } => {
            let request = token_pb::RetireSigningKeyRequest { kid, force };
            (options.clone(), token_service(&options).await?.retire_signing_key(request).await)
        }
    };
    output::signing_keys(options.output, &answer.map_err(rpc_error)?.into_inner().keys);
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
            let mut client = connect(&options).await?;
            let owner_id = owner_id(&mut client, &owner).await?;
            let request = pb::CreateResourceServerRequest {
                owner_id,
                name,
                identifier,
                scopes,
                token_format,
                allowed_client_ids,
                any_client,
                introspection_client_id: introspection_client,
                application_tokens,
            };
            let server = client.create_resource_server(request).await.map_err(rpc_error)?.into_inner();
            output::resource_servers(options.output, server.resource_server.as_slice(), true);
        }
        ResourceCommand::List { owner, client: options } => {
            let mut client = connect(&options).await?;
            let owner_id = any_owner(&mut client, owner.as_deref()).await?;
            let servers = client
                .list_resource_servers(pb::ListResourceServersRequest { owner_id })
                .await
                .map_err(rpc_error)?
                .into_inner()
                .resource_servers;
            output::resource_servers(options.output, &servers, false);
        }
        ResourceCommand::Show { id, client: options } => {
            let mut client = connect(&options).await?;
            let request = pb::GetResourceServerRequest { id, acting_owner_id: String::new() };
            let server = client.get_resource_server(request).await.map_err(rpc_error)?.into_inner();
            output::resource_servers(options.output, server.resource_server.as_slice(), true);
        }
        ResourceCommand::Delete { id, client: options } => {
            let mut client = connect(&options).await?;
            let request = pb::DeleteResourceServerRequest { id: id.clone(), acting_owner_id: String::new() };
            client.delete_resource_server(request).await.map_err(rpc_error)?;
            output::done(options.output, &format!("deleted resource server {id}"));
        }
    }
    Ok(())
}

pub(crate) async fn registration(command: RegistrationCommand) -> anyhow::Result<()> {
    let RegistrationCommand::Token(command) = command;
    match command {
        InitialTokenCommand::Create { description, days, client: options } => {
            let mut client = connect(&options).await?;
            let ttl_seconds = i64::try_from(days.saturating_mul(86_400)).unwrap_or(i64::MAX);
            let request = pb::CreateInitialAccessTokenRequest { description, ttl_seconds };
            let created = client.create_initial_access_token(request).await.map_err(rpc_error)?.into_inner();
            output::initial_access_tokens(options.output, created.info.as_slice(), Some(&created.token));
        }
        InitialTokenCommand::List { client: options } => {
            let mut client = connect(&options).await?;
            let tokens = client
                .list_initial_access_tokens(pb::ListInitialAccessTokensRequest {})
                .await
                .map_err(rpc_error)?
                .into_inner()
                .tokens;
            output::initial_access_tokens(options.output, &tokens, None);
        }
        InitialTokenCommand::Delete { id, client: options } => {
            let mut client = connect(&options).await?;
            client
                .delete_initial_access_token(pb::DeleteInitialAccessTokenRequest { id: id.clone() })
                .await
                .map_err(rpc_error)?;
            output::done(options.output, &format!("deleted initial access token {id}"));
        }
    }
    Ok(())
}
