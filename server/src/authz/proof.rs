//! Proof values: what `crate::authz` hands out once it has decided that a caller may do
//! something, and what the store asks for before it reads values or changes state. A handler
//! that skips authz has no proof to pass, so it does not compile.
//!
//! Every field is `pub(super)`: only `crate::authz` (this module's parent) can build a proof;
//! everyone else can only read one. This module must not decide anything itself, and it depends
//! on nothing but the store's plain records (`Actor`, `RoleHolder`, `StoreResult`), so the store
//! can name these types without depending on `crate::authz`'s decisions (no import cycle).

use std::{future::Future, marker::PhantomData, pin::Pin};

use sqlx::AnyConnection;

use crate::store::{StoreResult, access::RoleHolder, actor::Actor};

/// Resource marker: a secret group.
pub struct Group;
/// Resource marker: one secret (by its id).
pub struct Secret;
/// Resource marker: a team.
pub struct Team;
/// Resource marker: a personal access token.
pub struct Token;

/// Action marker: see a group and its keys (or a team and its members).
pub struct See;
/// Action marker: read secret values.
pub struct ReadValues;
/// Action marker: create, change or delete secrets.
pub struct WriteSecrets;
/// Action marker: change a group's manifest or delete it; delete a team or a token.
pub struct Manage;

/// Proof that the caller (the [`Actor`]) may do `A` to the resource `R` with id [`Self::id`] of
/// its tenant. Store functions take it instead of bare ids and read tenant and id from it.
///
/// The compiler holds handlers to this. A handler that asks authz first compiles:
///
/// ```no_run
/// use secret_groups_server::{authz::{self, Manage}, caller::Caller, error::ApiError, state::AppState, store::groups};
///
/// async fn delete_group(state: &AppState, caller: &Caller, id: &str) -> Result<(), ApiError> {
///     let group = authz::authorize_group::<Manage>(state, caller, id).await?;
///     groups::delete(&state.db, &group).await?;
///     Ok(())
/// }
/// ```
///
/// The same handler without the authorization call does not: the store wants a proof, not ids
/// (E0308, "expected `&Authorized<Group, Manage>`, found `&String`").
///
/// ```compile_fail,E0308
/// use secret_groups_server::{caller::Caller, error::ApiError, state::AppState, store::groups};
///
/// async fn delete_group(state: &AppState, caller: &Caller, id: &str) -> Result<(), ApiError> {
///     groups::delete(&state.db, &caller.tenant_id).await?;
///     Ok(())
/// }
/// ```
///
/// Nor with a proof of a weaker action: seeing a group does not let one delete it (E0308,
/// "expected `&Authorized<Group, Manage>`, found `&Authorized<Group, See>`").
///
/// ```compile_fail,E0308
/// use secret_groups_server::{authz::{self, See}, caller::Caller, error::ApiError, state::AppState, store::groups};
///
/// async fn delete_group(state: &AppState, caller: &Caller, id: &str) -> Result<(), ApiError> {
///     let group = authz::authorize_group::<See>(state, caller, id).await?;
///     groups::delete(&state.db, &group).await?;
///     Ok(())
/// }
/// ```
///
/// Nor by making the proof itself: its fields are private to `authz` (E0451).
///
/// ```compile_fail,E0451
/// use std::marker::PhantomData;
///
/// use secret_groups_server::{authz::{Authorized, Group, Manage}, caller::Caller};
///
/// fn forge(caller: &Caller, id: &str) -> Authorized<Group, Manage> {
///     Authorized { actor: caller.actor(), id: id.to_owned(), kind: PhantomData }
/// }
/// ```
pub struct Authorized<R, A> {
    pub(super) actor: Actor,
    pub(super) id: String,
    /// `fn() -> …`: the markers are never held, and the proof stays `Send + Sync`.
    pub(super) kind: PhantomData<fn() -> (R, A)>,
}

impl<R, A> Authorized<R, A> {
    /// The resource's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The tenant the resource belongs to (the caller's).
    pub fn tenant_id(&self) -> &str {
        &self.actor.tenant_id
    }

    /// Who acts, as the store records it.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

/// Proof for a list: the groups on which the caller may do `A`, as a filter the store applies in
/// SQL (`None`: every group of the tenant, for a tenant admin).
pub struct Visible<A> {
    pub(super) tenant_id: String,
    pub(super) filter: Option<(RoleHolder, &'static [&'static str])>,
    pub(super) kind: PhantomData<fn() -> A>,
}

impl<A> Visible<A> {
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// `None` for everything in the tenant, else the role holder and the role ids that count.
    pub fn filter(&self) -> Option<(&RoleHolder, &'static [&'static str])> {
        self.filter.as_ref().map(|(holder, roles)| (holder, *roles))
    }
}

/// Whether a list done under `Visible<A>` carries secret values: only under [`ReadValues`].
pub trait ListValues {
    const WITH_VALUES: bool;
}

impl ListValues for See {
    const WITH_VALUES: bool = false;
}

impl ListValues for ReadValues {
    const WITH_VALUES: bool = true;
}

/// Proof that the caller is a user (not a virtual account) of its tenant: what creating groups
/// and teams and managing one's own tokens need.
pub struct AsUser {
    pub(super) actor: Actor,
}

impl AsUser {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn tenant_id(&self) -> &str {
        &self.actor.tenant_id
    }

    /// The user's id.
    pub fn user_id(&self) -> &str {
        &self.actor.subject_id
    }
}

/// Proof that the caller is an admin of its tenant: what managing users, virtual accounts and
/// other users' tokens needs.
pub struct TenantAdmin {
    pub(super) actor: Actor,
}

impl TenantAdmin {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn tenant_id(&self) -> &str {
        &self.actor.tenant_id
    }
}

/// Proof that a token may be issued for the user `email` of the tenant: to the user itself, by a
/// tenant admin, or by the operator at the console.
pub struct IssueToken {
    pub(super) tenant_id: String,
    pub(super) email: String,
}

impl IssueToken {
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    pub fn email(&self) -> &str {
        &self.email
    }
}

/// Proof for the team list: every team of the tenant (`member` is `None`, a tenant admin) or
/// those the user `member` belongs to.
pub struct TeamsVisible {
    pub(super) tenant_id: String,
    pub(super) member: Option<String>,
}

impl TeamsVisible {
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    pub fn member(&self) -> Option<&str> {
        self.member.as_deref()
    }
}

/// A decision authz makes on the write transaction's connection.
pub type Decision<'a> = Pin<Box<dyn Future<Output = StoreResult<()>> + Send + 'a>>;

/// The decisions an upsert of an `R` by name must make inside its write transaction, so the
/// answer holds for the row actually changed. Implemented in `crate::authz` only.
pub(super) trait DecideInTx<R>: Send + Sync {
    /// May the caller change the existing `R` `id` (named `name`)? `Forbidden` if not.
    fn change<'a>(&'a self, conn: &'a mut AnyConnection, id: &'a str, name: &'a str) -> Decision<'a>;
    /// May the caller create an `R` named `name`? `Forbidden` if not.
    fn create<'a>(&'a self, conn: &'a mut AnyConnection, name: &'a str) -> Decision<'a>;
}

/// Proof that the caller may upsert an `R` by name, subject to the checks authz supplies here and
/// the store runs on its write transaction's connection ([`Self::may_change`],
/// [`Self::may_create`]).
pub struct InTx<R> {
    pub(super) actor: Actor,
    pub(super) decide: Box<dyn DecideInTx<R>>,
}

impl<R> InTx<R> {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn tenant_id(&self) -> &str {
        &self.actor.tenant_id
    }

    /// `Forbidden` unless the caller may change the existing `R` `id` (named `name`).
    pub async fn may_change(&self, conn: &mut AnyConnection, id: &str, name: &str) -> StoreResult<()> {
        self.decide.change(conn, id, name).await
    }

    /// `Forbidden` unless the caller may create an `R` named `name`.
    pub async fn may_create(&self, conn: &mut AnyConnection, name: &str) -> StoreResult<()> {
        self.decide.create(conn, name).await
    }
}
