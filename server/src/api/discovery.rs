//! What TrueFoundry's CLI asks before every command: the oldest CLI version the server takes
//! (`min-cli-version`), the tenant of a host (`tenant-id`), both without a token, and who the
//! token is (`session`).
//!
//! The tenant a caller acts in always comes from its token (`session`). `tenant-id` is
//! unauthenticated, so it names only the deployment's default tenant (`SG_TENANT`), whatever
//! `hostName` says: a client controls that parameter, and answering other tenants' names by host
//! would let anyone enumerate them on a multi-tenant server. The CLI uses the answer only to find
//! an OAuth server, which this server does not have. This module must not read or change stored
//! data.

use axum::{Json, extract::State};

use super::responses::{TooManyRequests, Unauthorized};
use crate::{
    auth::{Caller, Principal},
    model::{
        MinCliVersionResponse, SessionResponse, SessionSubjectType, SessionUser, Subject, SubjectType,
        TenantIdResponse, TenantRef,
    },
    state::AppState,
};

/// The `truefoundry` release this server's CLI suite runs (`scripts/tfy-cli-tests.sh`): older
/// releases are not known to send what this server expects, so they are told to upgrade.
pub const TESTED_CLI_VERSION: &str = "0.17.5";

/// Oldest CLI version
///
/// The oldest `truefoundry` CLI this server works with (the one it is tested with); an older CLI
/// tells its user to upgrade. No token needed.
#[utoipa::path(
    get,
    path = "/api/svc/v1/min-cli-version",
    tag = "TrueFoundry CLI",
    operation_id = "getMinCliVersion",
    security(),
    responses((status = 200, description = "The oldest CLI version.", body = MinCliVersionResponse))
)]
pub async fn get_min_cli_version() -> Json<MinCliVersionResponse> {
    Json(MinCliVersionResponse {
        min_version: TESTED_CLI_VERSION.to_owned(),
        truefoundry_cli_min_version: TESTED_CLI_VERSION.to_owned(),
        use_sfy_server_auth_apis: true,
    })
}

/// Tenant of a host
///
/// The deployment's default tenant (`SG_TENANT`), whatever `hostName` is; a caller's own tenant
/// is in `session`. No token needed.
#[utoipa::path(
    get,
    path = "/api/svc/v1/tenant-id",
    tag = "TrueFoundry CLI",
    operation_id = "getTenantId",
    security(),
    params(("hostName" = Option<String>, Query, description = "The host the CLI was pointed at; accepted and ignored.")),
    responses((status = 200, description = "The default tenant.", body = TenantIdResponse))
)]
pub async fn get_tenant_id(State(state): State<AppState>) -> Json<TenantIdResponse> {
    Json(TenantIdResponse { tenant_name: state.default_tenant.clone(), auth_server_url: String::new() })
}

/// The caller's session
///
/// Who the token is and its tenant, as `tfy login` reads them.
#[utoipa::path(
    get,
    path = "/api/svc/v1/session",
    tag = "TrueFoundry CLI",
    operation_id = "getSession",
    responses(
        (status = 200, description = "The caller.", body = SessionResponse),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn get_session(caller: Caller) -> Json<SessionResponse> {
    let (email, session_type, subject_type) = match &caller.principal {
        Principal::User { email, .. } => (Some(email.clone()), SessionSubjectType::User, SubjectType::User),
        Principal::VirtualAccount { .. } => (None, SessionSubjectType::Serviceaccount, SubjectType::Serviceaccount),
    };
    let slug = caller.slug().to_owned();
    let subject = Subject {
        subject_id: caller.id().to_owned(),
        subject_type,
        subject_slug: Some(slug.clone()),
        subject_display_name: Some(slug.clone()),
    };
    Json(SessionResponse {
        user: SessionUser {
            id: caller.id().to_owned(),
            email,
            tenant_name: caller.tenant_name.clone(),
            subject_slug: slug,
            subject_type: session_type,
            subject,
        },
        tenant_info: TenantRef { tenant_name: caller.tenant_name },
    })
}
