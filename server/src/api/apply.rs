//! TrueFoundry's generic manifest operations, which its CLI (`tfy apply`, `tfy delete`) and its
//! SDK (`client.apply`, `client.delete`) call: `PUT /api/svc/v1/apply`, `POST /api/svc/v1/delete`
//! and `POST /api/svc/v1/dependency-tree`, for the three manifest types this server owns.
//!
//! Apply and delete dispatch on the manifest's `type` to the type-specific operations
//! (`secret_groups`, `teams`, `virtual_accounts`), called as handlers with the same body they
//! would get over HTTP, so validation, authorization, the transaction and `dryRun` are theirs, not
//! a copy. This module must not validate a manifest's fields, decide who may act, or touch the
//! store beyond finding an object's id by its name.

use axum::{
    Json,
    body::Body,
    extract::{FromRequest, Request, State},
    http::header::{CONTENT_LENGTH, CONTENT_TYPE},
};
use serde_json::{Value, json};

use super::{
    extract::{JsonBody, PathId},
    query::QueryString,
    responses::{
        BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized, UnprocessableEntity,
    },
    secret_groups, teams, virtual_accounts,
};
use crate::{
    auth::Caller,
    error::ApiError,
    model::{
        ApplyAction, ApplyRequest, ApplyResponse, DeleteManifestRequest, DependencyTreeRequest, DependencyTreeResponse,
        EmptyResponse, ManifestObject, ResourceIdentifier, ResourceWithDependencies,
    },
    state::AppState,
    store::named::{self, Kind},
};

/// The manifest types this server owns, in the order they are applied (each may name the ones
/// before it: a group its teams, a virtual account its groups).
const TYPES: [(&str, Kind); 3] =
    [("team", Kind::Team), ("secret-group", Kind::SecretGroup), ("virtual-account", Kind::VirtualAccount)];

/// Most manifests one dependency tree orders.
const MAX_MANIFESTS: usize = 1000;

/// Apply a manifest
///
/// Creates or updates the object a `secret-group`, `team` or `virtual-account` manifest
/// describes, exactly as its type-specific create-or-update does; any other type is refused
/// (422) with nothing stored.
#[utoipa::path(
    put,
    path = "/api/svc/v1/apply",
    tag = "TrueFoundry CLI",
    operation_id = "applyManifest",
    request_body = ApplyRequest,
    responses(
        (status = 200, description = "What was done, the object before and after (with `dryRun`, as it would be).", body = ApplyResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn apply_manifest(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ApplyRequest>,
) -> Result<Json<ApplyResponse>, ApiError> {
    let (kind, name) = kind_and_name(&body.manifest)?;
    // Read before the change, through the type's own get (so only what the caller may see);
    // answered only if the change is then allowed too.
    let existing = match named::id_of(&state.db, &caller.tenant_id, kind, &name).await? {
        Some(id) => Some(current_manifest(&state, &caller, kind, id).await?),
        None => None,
    };
    let typed = json!({ "manifest": &body.manifest, "dryRun": body.dry_run.unwrap_or(false) });
    let (data, token) = match kind {
        Kind::SecretGroup => {
            let body = typed_body(&state, &typed).await?;
            let Json(answer) = secret_groups::create_or_update_secret_group(State(state.clone()), caller, body).await?;
            (to_value(&answer.data)?, None)
        }
        Kind::Team => {
            let body = typed_body(&state, &typed).await?;
            let Json(answer) = teams::create_or_update_team(State(state.clone()), caller, body).await?;
            (to_value(&answer.data)?, None)
        }
        Kind::VirtualAccount => {
            let body = typed_body(&state, &typed).await?;
            let Json(answer) =
                virtual_accounts::create_or_update_virtual_account(State(state.clone()), caller, body).await?;
            (to_value(&answer.data)?, answer.token)
        }
    };
    let action = if existing.is_some() { ApplyAction::Update } else { ApplyAction::Create };
    let existing_manifest = existing.map(|current| as_compared(current, &body.manifest, kind));
    Ok(Json(ApplyResponse { existing_manifest, action, data, token }))
}

/// Delete what a manifest names
///
/// Deletes the `secret-group`, `team` or `virtual-account` named by the manifest's `type` and
/// `name`, with the same rules as its type-specific delete. Answers `{}`.
#[utoipa::path(
    post,
    path = "/api/svc/v1/delete",
    tag = "TrueFoundry CLI",
    operation_id = "deleteManifest",
    request_body = DeleteManifestRequest,
    responses(
        (status = 200, description = "The object is gone.", body = EmptyResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn delete_manifest(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<DeleteManifestRequest>,
) -> Result<Json<EmptyResponse>, ApiError> {
    let (kind, name) = kind_and_name(&body.manifest)?;
    let Some(id) = named::id_of(&state.db, &caller.tenant_id, kind, &name).await? else {
        return Err(ApiError::not_found(format!("no {} named {name} in this tenant", type_name(kind))));
    };
    let state = State(state);
    match kind {
        Kind::SecretGroup => {
            let Json(_) = secret_groups::delete_secret_group(state, caller, PathId(id), QueryString::default()).await?;
        }
        Kind::Team => {
            let Json(_) = teams::delete_team(state, caller, PathId(id)).await?;
        }
        Kind::VirtualAccount => {
            let Json(_) = virtual_accounts::delete_virtual_account(state, caller, PathId(id)).await?;
        }
    }
    Ok(Json(EmptyResponse {}))
}

/// Order manifests for applying
///
/// The manifests in the order to apply them — teams, then secret groups, then virtual accounts,
/// then any other type (which apply refuses) — each with the given manifests it names: a group's
/// `team:` collaborators, a virtual account's groups in `permissions`. Nothing is read or stored.
#[utoipa::path(
    post,
    path = "/api/svc/v1/dependency-tree",
    tag = "TrueFoundry CLI",
    operation_id = "resolveDependencyTree",
    request_body = DependencyTreeRequest,
    responses(
        (status = 200, description = "The manifests in order, with their dependencies.", body = DependencyTreeResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn resolve_dependency_tree(
    caller: Caller,
    JsonBody(body): JsonBody<DependencyTreeRequest>,
) -> Result<Json<DependencyTreeResponse>, ApiError> {
    Ok(Json(DependencyTreeResponse { data: dependency_order(&caller.tenant_name, &body.manifests)? }))
}

/// The type (one this server owns) and the name of a manifest; 422 naming the accepted types
/// for any other.
fn kind_and_name(manifest: &ManifestObject) -> Result<(Kind, String), ApiError> {
    let accepted = "must be one of secret-group, team, virtual-account (the manifest types this server manages)";
    let Some(kind) = manifest.get("type").and_then(Value::as_str) else {
        return Err(ApiError::validation("manifest.type", accepted));
    };
    let Some((_, kind)) = TYPES.iter().find(|(name, _)| *name == kind) else {
        return Err(ApiError::validation("manifest.type", format!("{accepted}, not {kind}")));
    };
    let Some(name) = manifest.get("name").and_then(Value::as_str) else {
        return Err(ApiError::validation("manifest.name", "must be a string"));
    };
    Ok((*kind, name.to_owned()))
}

fn type_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Team => "team",
        Kind::SecretGroup => "secret-group",
        Kind::VirtualAccount => "virtual-account",
    }
}

/// The object's manifest now, through the type's own get (its visibility rules).
async fn current_manifest(state: &AppState, caller: &Caller, kind: Kind, id: String) -> Result<Value, ApiError> {
    let (state, caller, id) = (State(state.clone()), caller.clone(), PathId(id));
    match kind {
        Kind::SecretGroup => to_value(&secret_groups::get_secret_group(state, caller, id).await?.0.data.manifest),
        Kind::Team => to_value(&teams::get_team(state, caller, id).await?.0.data.manifest),
        Kind::VirtualAccount => {
            to_value(&virtual_accounts::get_virtual_account(state, caller, id).await?.0.data.manifest)
        }
    }
}

/// The current manifest as the new one will be compared with it (`tfy apply --dry-run
/// --show-diff` diffs the two): a field an update keeps when it is left out (a team's
/// `managers`, a virtual account's `permissions`) is left out here too when the new manifest
/// leaves it out, so the diff shows only what the apply changes.
fn as_compared(mut current: Value, new: &ManifestObject, kind: Kind) -> Value {
    let kept_when_absent = match kind {
        Kind::Team => "managers",
        Kind::VirtualAccount => "permissions",
        Kind::SecretGroup => return current,
    };
    if let Some(fields) = current.as_object_mut().filter(|_| !new.contains_key(kept_when_absent)) {
        fields.remove(kept_when_absent);
    }
    current
}

/// `manifests` ordered by type (stable within a type), each with the given manifests it names.
fn dependency_order(tenant: &str, manifests: &[ManifestObject]) -> Result<Vec<ResourceWithDependencies>, ApiError> {
    if manifests.len() > MAX_MANIFESTS {
        return Err(ApiError::validation("manifests", format!("must have at most {MAX_MANIFESTS} items")));
    }
    let mut resources = Vec::with_capacity(manifests.len());
    for (index, manifest) in manifests.iter().enumerate() {
        let Some(kind) = manifest.get("type").and_then(Value::as_str) else {
            return Err(ApiError::validation(format!("manifests[{index}].type"), "must be a string"));
        };
        // A manifest without a name goes by its type, as the CLI names it.
        let name = manifest.get("name").and_then(Value::as_str).unwrap_or(kind);
        let rank = TYPES.iter().position(|(known, _)| *known == kind).unwrap_or(TYPES.len());
        let id = ResourceIdentifier { resource_type: kind.to_owned(), resource_name: name.to_owned() };
        resources.push((rank, id, manifest));
    }
    let given: Vec<ResourceIdentifier> = resources.iter().map(|(_, id, _)| id.clone()).collect();
    resources.sort_by_key(|(rank, _, _)| *rank);
    Ok(resources
        .into_iter()
        .map(|(_, id, manifest)| {
            let dependencies = names_in(tenant, &id.resource_type, manifest)
                .into_iter()
                .filter(|dependency| given.contains(dependency))
                .collect();
            ResourceWithDependencies { resource_type: id.resource_type, resource_name: id.resource_name, dependencies }
        })
        .collect())
}

/// The objects a manifest names that must exist before it is applied: a group's `team:`
/// collaborators, a virtual account's groups (`<tenant>:<group>` in `permissions`). Never the
/// other way round (a group naming `virtualaccount:` collaborators), which could make a cycle,
/// and a cycle makes the CLI drop the manifests in it.
fn names_in(tenant: &str, kind: &str, manifest: &ManifestObject) -> Vec<ResourceIdentifier> {
    let items = |field: &str, key: &str| -> Vec<String> {
        let list = manifest.get(field).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        list.iter().filter_map(|item| item.get(key).and_then(Value::as_str)).map(str::to_owned).collect()
    };
    let named = |resource_type: &str, names: Vec<String>| -> Vec<ResourceIdentifier> {
        names
            .into_iter()
            .map(|resource_name| ResourceIdentifier { resource_type: resource_type.to_owned(), resource_name })
            .collect()
    };
    match kind {
        "secret-group" => {
            let teams = items("collaborators", "subject");
            named("team", teams.iter().filter_map(|s| s.strip_prefix("team:")).map(str::to_owned).collect())
        }
        "virtual-account" => {
            let fqns = items("permissions", "resource_fqn");
            let groups = fqns.iter().filter_map(|fqn| fqn.strip_prefix(tenant)?.strip_prefix(':')).map(str::to_owned);
            named("secret-group", groups.collect())
        }
        _ => Vec::new(),
    }
}

/// `body` as the type-specific operation's body extractor reads it from a request: the same
/// parsing, limits and error answers (field paths such as `manifest.name`) as over HTTP.
async fn typed_body<E>(state: &AppState, body: &Value) -> Result<E, ApiError>
where
    E: FromRequest<AppState, Rejection = ApiError>,
{
    let bytes = serde_json::to_vec(body).map_err(|e| ApiError::internal(format!("cannot serialise a body: {e}")))?;
    let request = Request::builder()
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, bytes.len())
        .body(Body::from(bytes))
        .map_err(|e| ApiError::internal(format!("cannot build a request: {e}")))?;
    E::from_request(request, state).await
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::internal(format!("cannot serialise an answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(value: Value) -> ManifestObject {
        match value {
            Value::Object(map) => map,
            _ => ManifestObject::new(),
        }
    }

    #[test]
    fn at_most_max_manifests_are_ordered() {
        let one = manifest(json!({"type": "team", "name": "t"}));
        assert!(dependency_order("acme", &vec![one.clone(); MAX_MANIFESTS]).is_ok());
        let refused = dependency_order("acme", &vec![one; MAX_MANIFESTS + 1]).err();
        assert_eq!(refused.map(|e| e.status().as_u16()), Some(422));
    }

    fn order(manifests: Vec<Value>) -> Vec<(String, String, Vec<String>)> {
        let manifests: Vec<_> = manifests.into_iter().map(manifest).collect();
        dependency_order("acme", &manifests)
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let deps = r.dependencies.into_iter().map(|d| format!("{}:{}", d.resource_type, d.resource_name));
                (r.resource_type, r.resource_name, deps.collect())
            })
            .collect()
    }

    #[test]
    fn teams_come_first_then_groups_then_accounts_then_the_rest() {
        let ordered = order(vec![
            json!({"type": "virtual-account", "name": "ci", "permissions": [
                {"resource_fqn": "acme:payments", "resource_type": "secret-group", "role_id": "secret-group-viewer"},
                {"resource_fqn": "other:payments", "resource_type": "secret-group", "role_id": "secret-group-viewer"},
                {"resource_fqn": "acme:elsewhere", "resource_type": "secret-group", "role_id": "secret-group-viewer"}]}),
            json!({"type": "cluster", "name": "big"}),
            json!({"type": "secret-group", "name": "payments", "collaborators": [
                {"subject": "team:payers", "role_id": "secret-group-editor"},
                {"subject": "virtualaccount:ci", "role_id": "secret-group-viewer"},
                {"subject": "user:a@example.com", "role_id": "secret-group-admin"}]}),
            json!({"type": "team", "name": "payers", "members": []}),
        ]);
        let expected = vec![
            ("team".to_owned(), "payers".to_owned(), vec![]),
            ("secret-group".to_owned(), "payments".to_owned(), vec!["team:payers".to_owned()]),
            ("virtual-account".to_owned(), "ci".to_owned(), vec!["secret-group:payments".to_owned()]),
            ("cluster".to_owned(), "big".to_owned(), vec![]),
        ];
        assert_eq!(ordered, expected);
    }

    #[test]
    fn a_manifest_without_a_type_is_refused() {
        let err = dependency_order("acme", &[manifest(json!({"name": "x"}))]).err();
        assert_eq!(err.map(|e| e.status().as_u16()), Some(422));
    }

    #[test]
    fn only_the_three_owned_types_are_applied() {
        assert!(matches!(kind_and_name(&manifest(json!({"type": "team", "name": "t"}))), Ok((Kind::Team, _))));
        let err = kind_and_name(&manifest(json!({"type": "cluster", "name": "c"}))).err();
        let message = err.map(|e| e.message().to_owned()).unwrap_or_default();
        assert!(message.contains("secret-group, team, virtual-account") && message.contains("cluster"), "{message}");
    }

    #[test]
    fn fields_an_update_keeps_are_not_shown_as_removed() {
        let current = json!({"type": "team", "name": "t", "members": [], "managers": ["a@example.com"]});
        let without = manifest(json!({"type": "team", "name": "t", "members": []}));
        assert_eq!(as_compared(current.clone(), &without, Kind::Team).get("managers"), None);
        let with = manifest(json!({"type": "team", "name": "t", "members": [], "managers": []}));
        assert!(as_compared(current, &with, Kind::Team).get("managers").is_some());
    }
}
