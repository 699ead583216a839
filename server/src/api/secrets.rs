//! `/api/svc/v1/secrets`: list (POST with a filter body), get with value and versions, delete.

use axum::{Json, extract::State};

use super::{
    extract::{JsonBody, PathId},
    params::ForceDeleteParams,
    query::QueryString,
    responses::{
        BadRequest, Forbidden, NotFound, PayloadTooLarge, ServiceUnavailable, TooManyRequests, Unauthorized,
        UnprocessableEntity,
    },
    view,
};
use crate::{
    auth::Caller,
    authz::{self, GroupAct, ListValues, ReadValues, See, WriteSecrets},
    error::ApiError,
    model::{DeleteSecretResponse, ListSecretsRequest, ListSecretsResponse, SecretResponse},
    state::AppState,
    store::{
        groups::SecretRow,
        page::{Page, PageRequest},
        secrets::{self, SecretFilter},
    },
};

/// The scheme deployments use to reference a secret; accepted in `secretFqns` filters.
const SECRET_URI_SCHEME: &str = "tfy-secret://";

/// List secrets
///
/// Lists the caller's secrets, oldest first, optionally of one group or with given FQNs;
/// `withValue: true` adds each current value.
#[utoipa::path(
    post,
    path = "/api/svc/v1/secrets",
    tag = "Secrets",
    operation_id = "listSecrets",
    request_body = ListSecretsRequest,
    responses(
        (status = 200, description = "One page of secrets, with the total number of matches.", body = ListSecretsResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = UnprocessableEntity),
        (status = 503, response = ServiceUnavailable),
    )
)]
pub async fn list_secrets(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ListSecretsRequest>,
) -> Result<Json<ListSecretsResponse>, ApiError> {
    let limit = body.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::validation("limit", "must be between 1 and 1000"));
    }
    let offset = body.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::validation("offset", "must be at least 0"));
    }
    let names = match body.secret_fqns {
        Some(fqns) if fqns.len() > 1000 => {
            return Err(ApiError::validation("secretFqns", "must have at most 1000 items"));
        }
        // FQNs of other tenants or of no valid shape match nothing here.
        Some(fqns) => Some(fqns.iter().filter_map(|fqn| own_group_and_key(&caller, fqn)).collect()),
        None => None,
    };
    let with_value = body.with_value.unwrap_or(false);
    let filter = SecretFilter { group_id: body.secret_group_id, names };
    let request = PageRequest { limit, offset, bounds: state.list_bounds };
    // Values are listed only from groups the caller may read values of: the action is a type,
    // and only a `ReadValues` proof lists values.
    let page = if with_value {
        list_as::<ReadValues>(&state, &caller, &filter, request).await?
    } else {
        list_as::<See>(&state, &caller, &filter, request).await?
    };
    let pagination = view::pagination(&page, offset, limit);
    let data: Vec<_> =
        page.rows.into_iter().map(|row| view::secret(&caller, row, with_value)).collect::<Result<_, _>>()?;
    if with_value {
        // Values are answered only once this read is on record (`crate::audit::capture`).
        crate::audit::scope::reads_values();
        for secret in &data {
            crate::audit::scope::resource("secret", Some(&secret.id), Some(&secret.fqn));
        }
    }
    Ok(Json(ListSecretsResponse { data, pagination }))
}

/// One page of the secrets the caller may do `A` to; asking for one named group without that
/// right is refused rather than answered without values.
async fn list_as<A: GroupAct + ListValues>(
    state: &AppState,
    caller: &Caller,
    filter: &SecretFilter,
    request: PageRequest,
) -> Result<Page<SecretRow>, ApiError> {
    if let Some(group_id) = &filter.group_id {
        authz::authorize_group::<A>(state, caller, group_id).await?;
    }
    let visible = authz::visibility::<A>(caller);
    // A list that scans or carries values waits for its turn (list_gate.rs); a lookup never does.
    let _turn = if filter.is_point(A::WITH_VALUES) { None } else { Some(state.lists.enter(caller.id()).await?) };
    Ok(secrets::list(&state.db, &*state.keys, &visible, filter, request).await?)
}

/// `<tenant>:<group>:<key>` (optionally as `tfy-secret://…`) of the caller's tenant → (group, key).
fn own_group_and_key(caller: &Caller, fqn: &str) -> Option<(String, String)> {
    let fqn = fqn.strip_prefix(SECRET_URI_SCHEME).unwrap_or(fqn);
    let rest = fqn.strip_prefix(&caller.tenant_name)?.strip_prefix(':')?;
    let (group, key) = rest.split_once(':')?;
    Some((group.to_owned(), key.to_owned()))
}

/// Get a secret with its value and versions
///
/// The secret with its current `value` and its `secretVersions`, oldest first.
#[utoipa::path(
    get,
    path = "/api/svc/v1/secrets/{id}",
    tag = "Secrets",
    operation_id = "getSecret",
    params(("id" = String, Path, description = "The secret's id (as in `associatedSecrets[].id` or `data[].id` of a list).")),
    responses(
        (status = 200, description = "The secret.", body = SecretResponse),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub async fn get_secret(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<SecretResponse>, ApiError> {
    // One query reads the secret sealed; it is opened only once the caller may read it.
    let sealed = secrets::get(&state.db, &caller.tenant_id, &id).await?;
    let group = authz::authorize_sealed::<ReadValues>(&state, &caller, &sealed).await?;
    let (row, version_rows) = sealed.open(&group, &*state.keys)?;
    let mut secret = view::secret(&caller, row, true)?;
    // The value is answered only once this read is on record (`crate::audit::capture`).
    crate::audit::scope::reads_values();
    crate::audit::scope::resource("secret", Some(&secret.id), Some(&secret.fqn));
    secret.secret_versions = Some(view::versions(&secret, version_rows)?);
    Ok(Json(SecretResponse { data: secret }))
}

/// Delete a secret
///
/// Deletes the secret and all its versions. Answers the number of deleted secrets, `1`.
#[utoipa::path(
    delete,
    path = "/api/svc/v1/secrets/{id}",
    tag = "Secrets",
    operation_id = "deleteSecret",
    params(("id" = String, Path, description = "The secret's id (as in `associatedSecrets[].id` or `data[].id` of a list)."), ForceDeleteParams),
    responses(
        (status = 200, description = "The number of deleted secrets.", body = DeleteSecretResponse),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = UnprocessableEntity),
    )
)]
pub async fn delete_secret(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    query: QueryString,
) -> Result<Json<DeleteSecretResponse>, ApiError> {
    // Read for its form only: it changes nothing (see the document).
    query.parse::<ForceDeleteParams>()?;
    let secret = authz::authorize_secret::<WriteSecrets>(&state, &caller, &id).await?;
    secrets::delete(&state.db, &secret).await?;
    Ok(Json(DeleteSecretResponse(1)))
}
