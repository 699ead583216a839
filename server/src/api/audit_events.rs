//! `/api/svc/v1/audit-events`: the tenant's audit trail, for tenant admins.
//!
//! It maps stored events (`crate::store::audit`) to the document's `AuditEvent`; it must not
//! write events (`crate::audit`).

use axum::{Json, extract::State};

use super::{
    params::{AuditEventFilterParams, PageParams},
    query::QueryString,
    responses::{Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized, UnprocessableEntity},
};
use crate::{
    audit::event::Event,
    auth::Caller,
    authz,
    error::ApiError,
    model::{AuditActor, AuditEvent, AuditResource, ListAuditEventsResponse, Pagination, Timestamp},
    state::AppState,
    store::{
        audit::{self, AuditFilter},
        page::PageRequest,
    },
};

/// List audit events
///
/// The tenant's audit events, newest first: every read of a value, every write and every
/// refusal, with who, when, from where, on what, and the answer's status. Tenant admins only.
#[utoipa::path(
    get,
    path = "/api/svc/v1/audit-events",
    tag = "Audit Events",
    operation_id = "listAuditEvents",
    params(PageParams, AuditEventFilterParams),
    responses(
        (status = 200, description = "One page of audit events.", body = ListAuditEventsResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
        (status = 503, response = ServiceUnavailable),
    )
)]
pub async fn list_audit_events(
    State(state): State<AppState>,
    caller: Caller,
    query: QueryString,
) -> Result<Json<ListAuditEventsResponse>, ApiError> {
    let admin = authz::require_tenant_admin(&caller)?;
    let (limit, offset) = query.parse::<PageParams>()?.page();
    let params: AuditEventFilterParams = query.parse()?;
    let filter = AuditFilter {
        action: params.action,
        actor: params.actor,
        resource_fqn: params.resource_fqn,
        status_code: params.status_code.map(|s| s.0),
        since_ms: params.since.map(|at| at.timestamp_millis()),
        until_ms: params.until.map(|at| at.timestamp_millis()),
    };
    // It scans: it waits for its turn like every list that does (list_gate.rs).
    let _turn = state.lists.enter(caller.id()).await?;
    let request = PageRequest { limit, offset, bounds: state.list_bounds };
    let (total, rows) = audit::list(&state.db, &admin, &filter, request).await?;
    let data = rows.into_iter().map(view).collect::<Result<_, _>>()?;
    Ok(Json(ListAuditEventsResponse { data, pagination: Pagination { total, offset, limit } }))
}

fn view(event: Event) -> Result<AuditEvent, ApiError> {
    let resources: Vec<serde_json::Value> = serde_json::from_str(&event.resources)
        .map_err(|e| ApiError::internal(format!("audit event {}: resources: {e}", event.id)))?;
    let resources = resources
        .into_iter()
        .map(|item| AuditResource {
            kind: item["type"].as_str().unwrap_or_default().to_owned(),
            id: item["id"].as_str().map(str::to_owned),
            fqn: item["fqn"].as_str().map(str::to_owned),
            name: item["name"].as_str().map(str::to_owned),
        })
        .collect();
    let changes = serde_json::from_str(&event.changes)
        .map_err(|e| ApiError::internal(format!("audit event {}: changes: {e}", event.id)))?;
    let present = |text: String| (!text.is_empty()).then_some(text);
    Ok(AuditEvent {
        created_at: Timestamp::from_millis(event.at)?,
        actor: AuditActor { kind: event.actor_type, id: event.actor_id, name: present(event.actor_name) },
        source: present(event.source),
        resources,
        changes,
        id: event.id,
        request_id: event.request_id,
        action: event.action,
        status_code: event.status_code,
        chain: event.chain,
        seq: event.seq,
        hash: event.hash,
        prev_hash: event.prev_hash,
    })
}
