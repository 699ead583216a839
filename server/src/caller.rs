//! [`Caller`]: who an authenticated request comes from, and the forms other layers need of it
//! (the store's [`Actor`], the role queries' [`access::RoleHolder`], a collaborator subject).
//!
//! It owns that value only; it must not authenticate (`crate::auth` builds a `Caller` from a
//! token) nor decide what the caller may do (`crate::authz`). It sits below both, and below
//! `crate::state`, so that none of them depends on another in a circle.

use crate::store::{access, actor::Actor};

/// Who is calling: a user (by personal access token) or a virtual account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User { id: String, email: String },
    VirtualAccount { id: String, name: String },
}

/// The authenticated caller of a request. Every handler that takes one is scoped to
/// `tenant_id`; what it may do there is decided in `crate::authz`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub tenant_id: String,
    pub tenant_name: String,
    /// Tenant admins may do anything in their tenant; virtual accounts never are.
    pub is_tenant_admin: bool,
}

impl Caller {
    /// The principal's id (user id or virtual account id).
    pub fn id(&self) -> &str {
        match &self.principal {
            Principal::User { id, .. } | Principal::VirtualAccount { id, .. } => id,
        }
    }

    /// The readable name: the user's e-mail or the account's name.
    pub fn slug(&self) -> &str {
        match &self.principal {
            Principal::User { email, .. } => email,
            Principal::VirtualAccount { name, .. } => name,
        }
    }

    /// The collaborator subject naming this caller (`user:<email>`, `virtualaccount:<name>`).
    pub fn subject(&self) -> String {
        match &self.principal {
            Principal::User { email, .. } => format!("user:{email}"),
            Principal::VirtualAccount { name, .. } => format!("virtualaccount:{name}"),
        }
    }

    pub fn user_id(&self) -> Option<&str> {
        match &self.principal {
            Principal::User { id, .. } => Some(id),
            Principal::VirtualAccount { .. } => None,
        }
    }

    pub fn actor(&self) -> Actor {
        Actor { tenant_id: self.tenant_id.clone(), subject_id: self.id().to_owned(), slug: self.slug().to_owned() }
    }

    /// The identity role queries are about.
    pub fn role_holder(&self) -> access::RoleHolder {
        let (user_id, virtual_account_id) = match &self.principal {
            Principal::User { id, .. } => (id.clone(), String::new()),
            Principal::VirtualAccount { id, .. } => (String::new(), id.clone()),
        };
        access::RoleHolder { tenant_id: self.tenant_id.clone(), user_id, virtual_account_id }
    }
}
