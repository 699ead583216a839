//! `/api/svc/v1/teams`: named sets of users; a team named as a collaborator gives its members
//! that role on the group.

use axum::{Json, extract::State};

use super::{
    extract::{PathId, PendingJson},
    params::PageParams,
    query::QueryString,
    responses::{
        BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized, UnprocessableEntity,
    },
    validate, view,
};
use crate::{
    auth::Caller,
    authz::{self, Manage, See},
    error::ApiError,
    model::{
        CreateOrUpdateTeamRequest, EmptyResponse, ListTeamMembersResponse, ListTeamsResponse, Pagination, Team,
        TeamManifest, TeamManifestType, TeamResponse, TeamRole, TeamSubjectRow, TeamSubjectType, Timestamp,
    },
    state::AppState,
    store::teams::{self, MANAGER, TeamSpec, TeamWithMembers},
};

fn view(caller: &Caller, row: TeamWithMembers) -> Result<Team, ApiError> {
    let TeamWithMembers { team, members } = row;
    let mut manifest: TeamManifest = serde_json::from_str(&team.manifest)
        .map_err(|e| ApiError::internal(format!("stored manifest of team {} is not valid: {e}", team.id)))?;
    let is_editable = authz::may_change_team(caller, &members);
    let emails_with =
        |role: &str| members.iter().filter(|m| m.role == role).map(|m| m.email.clone()).collect::<Vec<_>>();
    let emails = emails_with(teams::MEMBER);
    // The members and managers the team has now (a deleted user is gone), not what was sent.
    manifest.members = emails.clone();
    manifest.managers = Some(emails_with(MANAGER));
    Ok(Team {
        tenant_name: caller.tenant_name.clone(),
        account_id: caller.tenant_id.clone(),
        description: team.description,
        manifest,
        members: emails,
        is_editable,
        created_by_subject: view::subject(&team.created_by_id, &team.created_by_slug),
        created_by: team.created_by_slug,
        created_at: Timestamp::from_millis(team.created_at)?,
        updated_at: Timestamp::from_millis(team.updated_at)?,
        id: team.id,
        name: team.name,
    })
}

/// Create or update a team from its manifest
#[utoipa::path(
    put,
    path = "/api/svc/v1/teams",
    tag = "Teams",
    operation_id = "createOrUpdateTeam",
    request_body = CreateOrUpdateTeamRequest,
    responses(
        (status = 200, description = "The team as stored (or, with `dryRun`, as it would be stored).", body = TeamResponse),
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
pub async fn create_or_update_team(
    State(state): State<AppState>,
    caller: Caller,
    body: PendingJson<CreateOrUpdateTeamRequest>,
) -> Result<Json<TeamResponse>, ApiError> {
    let check = authz::upsert_team(&caller)?;
    let body = body.read(&state).await?;
    let mut manifest = body.manifest;
    if let Some(name) = &manifest.display_name {
        validate::length("manifest.displayName", name, 0, 256)?;
    }
    if let Some(description) = &manifest.description {
        validate::length("manifest.description", description, 0, 1024)?;
        validate::no_nul("manifest.description", description)?;
    }
    if manifest.members.len() > 1000 || manifest.managers.as_ref().is_some_and(|m| m.len() > 1000) {
        return Err(ApiError::validation("manifest.members", "must have at most 1000 items"));
    }
    manifest.kind = Some(TeamManifestType::Team);
    // A new team's creator manages it unless the manifest names managers (a team nobody
    // manages could only be changed by tenant admins); an update without managers keeps them.
    let managers = manifest.managers.take().filter(|list| !list.is_empty());
    let manifest_json = serde_json::to_string(&manifest)
        .map_err(|e| ApiError::internal(format!("cannot serialise a manifest: {e}")))?;
    let spec = TeamSpec {
        name: &manifest.name,
        description: manifest.description.as_deref().unwrap_or(""),
        manifest: &manifest_json,
        members: &manifest.members,
        managers: managers.as_deref(),
    };
    crate::audit::scope::resource_named("team", &manifest.name);
    crate::audit::scope::change("members", serde_json::json!(manifest.members));
    let row = teams::upsert(&state.db, &check, spec, body.dry_run.unwrap_or(false)).await?;
    Ok(Json(TeamResponse { data: view(&caller, row)? }))
}

/// List teams
#[utoipa::path(
    get,
    path = "/api/svc/v1/teams/user",
    tag = "Teams",
    operation_id = "listTeams",
    params(PageParams),
    responses(
        (status = 200, description = "One page of teams.", body = ListTeamsResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn list_teams(
    State(state): State<AppState>,
    caller: Caller,
    query: QueryString,
) -> Result<Json<ListTeamsResponse>, ApiError> {
    let visible = authz::team_visibility(&caller)?;
    let (limit, offset) = query.parse::<PageParams>()?.page();
    let (total, rows) = teams::list(&state.db, &visible, limit, offset).await?;
    let data = rows.into_iter().map(|row| view(&caller, row)).collect::<Result<_, _>>()?;
    Ok(Json(ListTeamsResponse { data, pagination: Pagination { total, offset, limit } }))
}

/// Get a team
#[utoipa::path(
    get,
    path = "/api/svc/v1/teams/{id}",
    tag = "Teams",
    operation_id = "getTeam",
    params(("id" = String, Path, description = "The team's id.")),
    responses(
        (status = 200, description = "The team.", body = TeamResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn get_team(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<TeamResponse>, ApiError> {
    let (_, team) = authz::authorize_team::<See>(&state, &caller, &id).await?;
    Ok(Json(TeamResponse { data: view(&caller, team)? }))
}

/// Delete a team
#[utoipa::path(
    delete,
    path = "/api/svc/v1/teams/{id}",
    tag = "Teams",
    operation_id = "deleteTeam",
    params(("id" = String, Path, description = "The team's id.")),
    responses(
        (status = 200, description = "The team is gone.", body = EmptyResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn delete_team(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<EmptyResponse>, ApiError> {
    let (team, _) = authz::authorize_team::<Manage>(&state, &caller, &id).await?;
    teams::delete(&state.db, &team).await?;
    Ok(Json(EmptyResponse {}))
}

/// List a team's members
#[utoipa::path(
    get,
    path = "/api/svc/v1/teams/{id}/members",
    tag = "Teams",
    operation_id = "listTeamMembers",
    params(("id" = String, Path, description = "The team's id."), PageParams),
    responses(
        (status = 200, description = "One page of members.", body = ListTeamMembersResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn list_team_members(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    query: QueryString,
) -> Result<Json<ListTeamMembersResponse>, ApiError> {
    let (limit, offset) = query.parse::<PageParams>()?.page();
    let (_, team) = authz::authorize_team::<See>(&state, &caller, &id).await?;
    let total = i64::try_from(team.members.len()).unwrap_or(i64::MAX);
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    let count = usize::try_from(limit).unwrap_or(0);
    let data = team
        .members
        .into_iter()
        .skip(start)
        .take(count)
        .map(|m| TeamSubjectRow {
            subject_id: m.user_id,
            subject_slug: m.email,
            subject_type: TeamSubjectType::User,
            role: Some(if m.role == MANAGER { TeamRole::Manager } else { TeamRole::Member }),
        })
        .collect();
    Ok(Json(ListTeamMembersResponse { data, pagination: Pagination { total, offset, limit } }))
}
