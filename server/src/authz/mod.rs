//! Authorization: the one place that decides what a caller may do. Handlers state the action
//! they are about to take and call one function here before touching storage; each decision
//! that allows hands back a proof value (`proof`: [`Authorized`], [`Visible`], [`AsUser`],
//! [`TenantAdmin`], [`InTx`], …) that only this module can build, and the store functions that
//! read values or change state take that proof instead of bare ids: a handler that skips this
//! module has nothing to pass and does not compile. Lists get their visibility filter here as a
//! proof too, which storage applies in SQL, so `limit`, `offset` and `total` count only what the
//! caller may see. Checks that must run inside a write transaction (an upsert by name changing
//! an existing group or team) are supplied here as [`InTx`] and run by the store on its
//! connection, so their logic lives here too.
//!
//! It must not run SQL of its own (it asks `crate::store`), nor know HTTP beyond the
//! `ApiError`s it answers with.
//!
//! The model (TrueFoundry's): a tenant admin may do anything in the tenant. Otherwise the
//! caller's role on a group is the highest of the roles granted to it by the group's
//! collaborators (`user:<email>`, `team:<name>` of any team it belongs to,
//! `virtualaccount:<name>`) and by a virtual account's permissions. Objects of another tenant
//! answer 404 exactly as if they did not exist; a group of the caller's own tenant without a
//! role answers 403.

mod proof;

use std::marker::PhantomData;

use sqlx::AnyConnection;

use self::proof::DecideInTx;
pub use self::proof::{
    AsUser, Authorized, Decision, Group, InTx, IssueToken, ListValues, Manage, ReadValues, Secret, See, Team,
    TeamsVisible, TenantAdmin, Token, Visible, WriteSecrets,
};
use crate::{
    auth::{Caller, Principal},
    error::ApiError,
    state::AppState,
    store::{
        StoreError, access,
        groups::{self, ROLE_ADMIN, ROLE_EDITOR, ROLE_VIEWER},
        secrets, teams, tokens,
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

/// Checks `A` on the group `group_id` of the caller's tenant: 404 if there is no such group
/// there, 403 if the caller's role is too weak.
pub async fn authorize_group<A: GroupAct>(
    state: &AppState,
    caller: &Caller,
    group_id: &str,
) -> Result<Authorized<Group, A>, ApiError> {
    if caller.is_tenant_admin {
        return if groups::exists(&state.db, &caller.tenant_id, group_id).await? {
            Ok(grant(caller, group_id))
        } else {
            Err(ApiError::not_found("secret group not found"))
        };
    }
    let mut conn = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let roles = access::roles_if_group_exists(&mut conn, &caller.role_holder(), &caller.tenant_id, group_id)
        .await?
        .ok_or_else(|| ApiError::not_found("secret group not found"))?;
    decide(&roles, A::ACTION)?;
    Ok(grant(caller, group_id))
}

/// Checks `A` on the group of a secret just read sealed from the caller's tenant: the group
/// exists (foreign keys delete secrets with their group), so no existence query, and none at all
/// for a tenant admin. Opening the secret takes the proof this returns.
pub async fn authorize_sealed<A: GroupAct>(
    state: &AppState,
    caller: &Caller,
    sealed: &secrets::SealedSecret,
) -> Result<Authorized<Group, A>, ApiError> {
    authorize_existing_group(state, caller, sealed.group_id()).await
}

/// Checks `A` on a group known to exist in the caller's tenant (read in the same request).
async fn authorize_existing_group<A: GroupAct>(
    state: &AppState,
    caller: &Caller,
    group_id: &str,
) -> Result<Authorized<Group, A>, ApiError> {
    if !caller.is_tenant_admin {
        let roles = access::group_roles_now(&state.db, &caller.role_holder(), group_id).await?;
        decide(&roles, A::ACTION)?;
    }
    Ok(grant(caller, group_id))
}

/// The proof that `caller` may do `A` to the resource `id`: built here only, once decided.
fn grant<R, A>(caller: &Caller, id: &str) -> Authorized<R, A> {
    Authorized { actor: caller.actor(), id: id.to_owned(), kind: PhantomData }
}

/// Allowed when the strongest of `roles` is enough for `action`.
fn decide(roles: &[String], action: GroupAction) -> Result<(), ApiError> {
    let best = roles.iter().filter_map(|id| Role::from_id(id)).max();
    match best {
        Some(role) if role >= action.needs() => Ok(()),
        _ => Err(ApiError::forbidden(action.denied())),
    }
}

/// Checks `A` on the group holding the secret `secret_id` (404 if no such secret in the
/// caller's tenant); the proof names the secret.
pub async fn authorize_secret<A: GroupAct>(
    state: &AppState,
    caller: &Caller,
    secret_id: &str,
) -> Result<Authorized<Secret, A>, ApiError> {
    let group_id = secrets::group_of(&state.db, &caller.tenant_id, secret_id)
        .await?
        .ok_or_else(|| ApiError::not_found("secret not found"))?;
    // The secret's group exists: foreign keys delete secrets with their group.
    authorize_existing_group::<A>(state, caller, &group_id).await?;
    Ok(grant(caller, secret_id))
}

/// The list filter for `A`: everything in the tenant for a tenant admin, otherwise the groups
/// on which the caller holds a strong enough role.
pub fn visibility<A: GroupAct>(caller: &Caller) -> Visible<A> {
    let filter = (!caller.is_tenant_admin).then(|| (caller.role_holder(), A::ACTION.needs().ids_at_least()));
    Visible { tenant_id: caller.tenant_id.clone(), filter, kind: PhantomData }
}

/// Creating groups and teams, and managing one's own tokens, is for users; a virtual account
/// acts only on the groups its permissions name.
pub fn require_user(caller: &Caller) -> Result<AsUser, ApiError> {
    match &caller.principal {
        Principal::User { .. } => Ok(AsUser { actor: caller.actor() }),
        Principal::VirtualAccount { .. } => Err(not_for_virtual_accounts()),
    }
}

fn not_for_virtual_accounts() -> ApiError {
    ApiError::forbidden(VIRTUAL_ACCOUNTS_CANNOT)
}

const VIRTUAL_ACCOUNTS_CANNOT: &str = "virtual accounts cannot do this; use a user's token";

/// Users, virtual accounts and other users' tokens are managed by tenant admins.
pub fn require_tenant_admin(caller: &Caller) -> Result<TenantAdmin, ApiError> {
    if caller.is_tenant_admin {
        Ok(TenantAdmin { actor: caller.actor() })
    } else {
        Err(ApiError::forbidden("this needs the tenant-admin role"))
    }
}

impl TenantAdmin {
    /// A tenant admin may do anything to any group of its tenant; one that does not exist is
    /// not found by the store, which scopes every statement by the tenant.
    pub fn group<A: GroupAct>(&self, group_id: &str) -> Authorized<Group, A> {
        Authorized { actor: self.actor.clone(), id: group_id.to_owned(), kind: PhantomData }
    }
}

/// A token for the caller itself: users only.
pub fn issue_own_token(caller: &Caller) -> Result<IssueToken, ApiError> {
    let user = require_user(caller)?;
    Ok(IssueToken { tenant_id: user.actor.tenant_id, email: user.actor.slug })
}

/// A token for the user `email` of the admin's tenant.
pub fn issue_token_for(admin: &TenantAdmin, email: &str) -> IssueToken {
    IssueToken { tenant_id: admin.actor.tenant_id.clone(), email: email.to_owned() }
}

/// A token issued by the operator at the console (`tokens create`), who holds the database and
/// its key file and so is not asked.
pub fn operator_issues_token(tenant_id: &str, email: &str) -> IssueToken {
    IssueToken { tenant_id: tenant_id.to_owned(), email: email.to_owned() }
}

/// Deleting the personal access token `id`: the caller's own, or any of the tenant for a tenant
/// admin. Someone else's token is not even acknowledged to a non-admin (404).
pub async fn authorize_token(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Authorized<Token, Manage>, ApiError> {
    let user = require_user(caller)?;
    let owner = tokens::pat_user(&state.db, &caller.tenant_id, id).await?;
    if owner != user.user_id() && !caller.is_tenant_admin {
        return Err(ApiError::not_found("personal access token not found"));
    }
    Ok(grant(caller, id))
}

/// An action on a group, as a type: the markers of `proof`.
pub trait GroupAct {
    const ACTION: GroupAction;
}

impl GroupAct for See {
    const ACTION: GroupAction = GroupAction::See;
}

impl GroupAct for ReadValues {
    const ACTION: GroupAction = GroupAction::ReadValues;
}

impl GroupAct for WriteSecrets {
    const ACTION: GroupAction = GroupAction::WriteSecrets;
}

impl GroupAct for Manage {
    const ACTION: GroupAction = GroupAction::Manage;
}

/// What a caller wants to do to a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamAction {
    /// See the team and its members: tenant admins, members and managers.
    See,
    /// Delete it: tenant admins and managers.
    Manage,
}

/// An action on a team, as a type.
pub trait TeamAct {
    const ACTION: TeamAction;
}

impl TeamAct for See {
    const ACTION: TeamAction = TeamAction::See;
}

impl TeamAct for Manage {
    const ACTION: TeamAction = TeamAction::Manage;
}

/// Checks `A` on the team `team_id` of the caller's tenant (404 if there is none there); the
/// team is read to decide and handed back with the proof.
pub async fn authorize_team<A: TeamAct>(
    state: &AppState,
    caller: &Caller,
    team_id: &str,
) -> Result<(Authorized<Team, A>, teams::TeamWithMembers), ApiError> {
    let team = teams::get(&state.db, &caller.tenant_id, team_id).await?;
    let user = require_user(caller)?;
    let allowed = match A::ACTION {
        TeamAction::See => caller.is_tenant_admin || team.members.iter().any(|m| m.user_id == user.user_id()),
        TeamAction::Manage => may_change_team(caller, &team.members),
    };
    if allowed {
        Ok((grant(caller, team_id), team))
    } else {
        Err(ApiError::forbidden(match A::ACTION {
            TeamAction::See => "only the team's members and managers may see it",
            TeamAction::Manage => "only the team's managers may change it",
        }))
    }
}

/// Whether the caller may change or delete a team with these members: tenant admins and the
/// team's managers. Also what clients are shown as the team's `isEditable`.
pub fn may_change_team(caller: &Caller, members: &[teams::MemberRow]) -> bool {
    caller.is_tenant_admin
        || caller.user_id().is_some_and(|id| members.iter().any(|m| m.user_id == id && m.role == teams::MANAGER))
}

/// Whether the caller may manage users (what clients are shown as a user's `isEditable`).
pub fn may_manage_users(caller: &Caller) -> bool {
    caller.is_tenant_admin
}

/// The team list: every team of the tenant for a tenant admin, else the user's own.
pub fn team_visibility(caller: &Caller) -> Result<TeamsVisible, ApiError> {
    let user = require_user(caller)?;
    let member = (!caller.is_tenant_admin).then(|| user.user_id().to_owned());
    Ok(TeamsVisible { tenant_id: caller.tenant_id.clone(), member })
}

/// Upserting a group by name: changing an existing one needs the admin role on it (or being a
/// tenant admin), creating one needs a user; both decided on the write transaction.
pub fn upsert_group(caller: &Caller) -> InTx<Group> {
    let decide =
        CallerInTx { holder: caller.role_holder(), is_user: caller.user_id().is_some(), admin: caller.is_tenant_admin };
    InTx { actor: caller.actor(), decide: Box::new(decide) }
}

/// Upserting a team by name (users only): changing an existing one needs being one of its
/// managers (or a tenant admin); a name a deleted team had is for tenant admins only.
pub fn upsert_team(caller: &Caller) -> Result<InTx<Team>, ApiError> {
    let user = require_user(caller)?;
    let decide = CallerInTx { holder: caller.role_holder(), is_user: true, admin: caller.is_tenant_admin };
    Ok(InTx { actor: user.actor, decide: Box::new(decide) })
}

/// The caller, as the in-transaction decisions need it.
struct CallerInTx {
    holder: access::RoleHolder,
    is_user: bool,
    admin: bool,
}

impl DecideInTx<Group> for CallerInTx {
    fn change<'a>(&'a self, conn: &'a mut AnyConnection, id: &'a str, name: &'a str) -> Decision<'a> {
        Box::pin(async move {
            if self.admin || decide(&access::group_roles(conn, &self.holder, id).await?, GroupAction::Manage).is_ok() {
                Ok(())
            } else {
                Err(StoreError::Forbidden(format!("only admins of secret group {name} may change it")))
            }
        })
    }

    fn create<'a>(&'a self, _conn: &'a mut AnyConnection, _name: &'a str) -> Decision<'a> {
        let allowed = self.is_user;
        Box::pin(async move {
            if allowed { Ok(()) } else { Err(StoreError::Forbidden(VIRTUAL_ACCOUNTS_CANNOT.to_owned())) }
        })
    }
}

impl DecideInTx<Team> for CallerInTx {
    fn change<'a>(&'a self, conn: &'a mut AnyConnection, id: &'a str, name: &'a str) -> Decision<'a> {
        Box::pin(async move {
            if self.admin || teams::is_manager(conn, id, &self.holder.user_id).await? {
                Ok(())
            } else {
                Err(StoreError::Forbidden(format!("only the team's managers may change team {name}")))
            }
        })
    }

    fn create<'a>(&'a self, conn: &'a mut AnyConnection, name: &'a str) -> Decision<'a> {
        Box::pin(async move {
            if self.admin || !teams::is_retired(conn, &self.holder.tenant_id, name).await? {
                Ok(())
            } else {
                Err(StoreError::Forbidden(format!(
                    "team name {name} belonged to a deleted team; only a tenant admin may create a team under it"
                )))
            }
        })
    }
}
