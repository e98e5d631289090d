//! The admin console (`/admin`): for people with the administrator role
//! only (the registry checks the role again on every call), with the same
//! templates, languages and CSRF rule as every page, and a recent sign-in
//! for every change. Users: find them, disable and enable them.

use axum::extract::{Path, RawQuery, State};
use http::StatusCode;

use super::extract::{FormPost, PageUser, RecentFormPost};
use super::form::FormData;
use crate::AppState;
use crate::error::GatewayError;
use crate::i18n::Lang;
use crate::render::html::{OnPage, PageError, PageResult, Viewer, page, respond};
use crate::render::{pages, redirect};
use crate::session::Session;

/// Users listed on one page of the console.
const PAGE_SIZE: u32 = 50;

/// The refusal of every console route to someone without the administrator role.
fn administrators_only(lang: Lang, session: &Session) -> Result<(), PageError> {
    if session.user.administrator { Ok(()) } else { Err(GatewayError::forbidden(lang.msg("admin-only"))).on_page(lang) }
}

pub(crate) async fn home(PageUser { session, lang }: PageUser) -> PageResult {
    administrators_only(lang, &session)?;
    Ok(redirect("/admin/users"))
}

/// *Admin → Users*: every account, or those matching the search, with their state.
pub(crate) async fn users(
    State(state): State<AppState>,
    PageUser { session, lang }: PageUser,
    RawQuery(query): RawQuery,
) -> PageResult {
    administrators_only(lang, &session)?;
    let search = FormData::from_body(&axum::body::Bytes::from(query.unwrap_or_default()));
    let (q, page_token) = (search.text("q"), search.text("page"));
    let (users, next) = state
        .clients
        .registry()
        .list_users(&session.user.id, &q, PAGE_SIZE, &page_token)
        .await
        .map_err(GatewayError::from)
        .on_page(lang)?;
    let body = pages::admin_users(lang, &session.csrf_token, &session.user.id, &q, &users, &next);
    Ok(respond(StatusCode::OK, page(lang, &lang.msg("admin-users"), Some(Viewer { user: &session.user }), &body)))
}

async fn set_disabled(state: &AppState, post: &FormPost, user_id: &str, disabled: bool) -> PageResult {
    administrators_only(post.lang, &post.session)?;
    state
        .clients
        .registry()
        .set_user_disabled(&post.session.user.id, user_id, disabled)
        .await
        .map_err(GatewayError::from)
        .on_page(post.lang)?;
    let back = post.form.text("q");
    Ok(redirect(&format!("/admin/users?q={}", pages::url_encode(&back))))
}

/// Disables an account: it cannot sign in, and its sessions and tokens end now.
pub(crate) async fn disable_user(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    RecentFormPost(post): RecentFormPost,
) -> PageResult {
    set_disabled(&state, &post, &user_id, true).await
}

pub(crate) async fn enable_user(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    RecentFormPost(post): RecentFormPost,
) -> PageResult {
    set_disabled(&state, &post, &user_id, false).await
}
