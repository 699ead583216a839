//! Authorization: the one place that decides what a caller may do. Handlers state the action
//! they are about to take and call one function here before touching storage; lists ask here
//! for the visibility filter that storage applies in SQL, so `limit`, `offset` and `total`
//! count only what the caller may see.
//!
//! The model (TrueFoundry's): a tenant admin may do anything in the tenant. Otherwise the
//! caller's role on a group is the highest of the roles granted to it by the group's
//! collaborators (`user:<email>`, `team:<name>` of any team it belongs to,
//! `virtualaccount:<name>`) and by a virtual account's permissions. Objects of another tenant
//! answer 404 exactly as if they did not exist; a group of the caller's own tenant without a
//! role answers 403.

use crate::{
    auth::{Caller, Principal},
    error::ApiError,
    state::AppState,
    store::{
        StoreError, access,
        groups::{self, ROLE_ADMIN, ROLE_EDITOR, ROLE_VIEWER},
        secrets, teams,
    },
};

/// Roles on a secret group, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    fn from_id(id: &str) -> Option<Self> {
        match id {
            ROLE_VIEWER => Some(Role::Viewer),
            ROLE_EDITOR => Some(Role::Editor),
            ROLE_ADMIN => Some(Role::Admin),
            _ => None,
        }
    }

    /// The role ids that grant at least this role.
    fn ids_at_least(self) -> &'static [&'static str] {
        match self {
            Role::Viewer => &[ROLE_VIEWER, ROLE_EDITOR, ROLE_ADMIN],
            Role::Editor => &[ROLE_EDITOR, ROLE_ADMIN],
            Role::Admin => &[ROLE_ADMIN],
        }
    }
}

/// What a caller wants to do to a group or its secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupAction {
    /// See the group and its keys.
    See,
    /// Read secret values.
    ReadValues,
    /// Create, change or delete secrets.
    WriteSecrets,
    /// Change the manifest (collaborators) or delete the group.
    Manage,
}

impl GroupAction {
    fn needs(self) -> Role {
        match self {
            GroupAction::See => Role::Viewer,
            GroupAction::ReadValues | GroupAction::WriteSecrets => Role::Editor,
            GroupAction::Manage => Role::Admin,
        }
    }

    fn denied(self) -> &'static str {
        match self {
            GroupAction::See => "you have no role on this secret group",
            GroupAction::ReadValues => "reading secret values needs the editor or admin role on the group",
            GroupAction::WriteSecrets => "changing secrets needs the editor or admin role on the group",
            GroupAction::Manage => "this needs the admin role on the group",
        }
    }
}

/// Checks `action` on the group `group_id` of the caller's tenant: 404 if there is no such
/// group there, 403 if the caller's role is too weak.
pub async fn authorize_group(
    state: &AppState,
    caller: &Caller,
    group_id: &str,
    action: GroupAction,
) -> Result<(), ApiError> {
    if caller.is_tenant_admin {
        return if groups::exists(&state.db, &caller.tenant_id, group_id).await? {
            Ok(())
        } else {
            Err(ApiError::not_found("secret group not found"))
        };
    }
    let mut conn = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let roles = access::roles_if_group_exists(&mut conn, &caller.role_holder(), &caller.tenant_id, group_id)
        .await?
        .ok_or_else(|| ApiError::not_found("secret group not found"))?;
    decide(&roles, action)
}

/// Checks `action` on a group known to exist in the caller's tenant (read in the same request,
/// e.g. as the group of a secret just loaded): no existence query, and none at all for a tenant
/// admin.
pub async fn authorize_existing_group(
    state: &AppState,
    caller: &Caller,
    group_id: &str,
    action: GroupAction,
) -> Result<(), ApiError> {
    if caller.is_tenant_admin {
        return Ok(());
    }
    let roles = access::group_roles_now(&state.db, &caller.role_holder(), group_id).await?;
    decide(&roles, action)
}

/// Allowed when the strongest of `roles` is enough for `action`.
fn decide(roles: &[String], action: GroupAction) -> Result<(), ApiError> {
    let best = roles.iter().filter_map(|id| Role::from_id(id)).max();
    match best {
        Some(role) if role >= action.needs() => Ok(()),
        _ => Err(ApiError::forbidden(action.denied())),
    }
}

/// Checks `action` on the group holding the secret `secret_id` (404 if no such secret in the
/// caller's tenant).
pub async fn authorize_secret(
    state: &AppState,
    caller: &Caller,
    secret_id: &str,
    action: GroupAction,
) -> Result<(), ApiError> {
    let group_id = secrets::group_of(&state.db, &caller.tenant_id, secret_id)
        .await?
        .ok_or_else(|| ApiError::not_found("secret not found"))?;
    // The secret's group exists: foreign keys delete secrets with their group.
    authorize_existing_group(state, caller, &group_id, action).await
}

/// The list filter for `action`: `None` (everything in the tenant) for a tenant admin,
/// otherwise the groups on which the caller holds a strong enough role.
pub fn visibility(caller: &Caller, action: GroupAction) -> Option<(access::RoleHolder, &'static [&'static str])> {
    (!caller.is_tenant_admin).then(|| (caller.role_holder(), action.needs().ids_at_least()))
}

/// Creating groups and teams, and managing one's own tokens, is for users; a virtual account
/// acts only on the groups its permissions name.
pub fn require_user(caller: &Caller) -> Result<&str, ApiError> {
    match &caller.principal {
        Principal::User { id, .. } => Ok(id),
        Principal::VirtualAccount { .. } => {
            Err(ApiError::forbidden("virtual accounts cannot do this; use a user's token"))
        }
    }
}

/// Users, virtual accounts and other users' tokens are managed by tenant admins.
pub fn require_tenant_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_tenant_admin { Ok(()) } else { Err(ApiError::forbidden("this needs the tenant-admin role")) }
}

/// What a caller wants to do to a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamAction {
    /// See the team and its members: tenant admins, members and managers.
    See,
    /// Delete it: tenant admins and managers.
    Manage,
}

/// Checks `action` on the team `team_id` of the caller's tenant (404 if there is none there).
pub async fn authorize_team(
    state: &AppState,
    caller: &Caller,
    team_id: &str,
    action: TeamAction,
) -> Result<teams::TeamWithMembers, ApiError> {
    let team = teams::get(&state.db, &caller.tenant_id, team_id).await?;
    let user_id = require_user(caller)?;
    if caller.is_tenant_admin {
        return Ok(team);
    }
    let allowed =
        team.members.iter().any(|m| m.user_id == user_id && (action == TeamAction::See || m.role == teams::MANAGER));
    if allowed {
        Ok(team)
    } else {
        Err(ApiError::forbidden(match action {
            TeamAction::See => "only the team's members and managers may see it",
            TeamAction::Manage => "only the team's managers may change it",
        }))
    }
}
