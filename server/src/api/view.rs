//! Stored rows → wire types. FQNs are built here from the caller's tenant name, so a row is never
//! shown with another tenant's name.

use crate::{
    auth::Caller,
    error::ApiError,
    model::{
        Collaborator, Pagination, RoleId, Secret, SecretGroup, SecretGroupManifest, SecretVersion, Subject,
        SubjectType, Timestamp,
    },
    state::Integration,
    store::{
        groups::{GroupWithSecrets, SecretRow},
        page::Page,
        secrets::VersionRow,
    },
};

/// A page's `pagination`. A page cut short by its size budget (`store::page`) gives as `limit`
/// the rows it holds, so a client that pages by `offset + limit` (and TrueFoundry's SDK, which
/// pages by `offset + data.length`) continues right after it.
pub fn pagination<T>(page: &Page<T>, offset: i64, limit: i64) -> Pagination {
    let limit = if page.cut_short { i64::try_from(page.rows.len()).unwrap_or(limit) } else { limit };
    Pagination { total: page.total, offset, limit }
}

/// The subject that created something, from the stored id and slug. Users' slugs are e-mails
/// (always with `@`); virtual accounts' are names, which may not contain `@`, so the slug tells
/// the kind without another column.
pub fn subject(id: &str, slug: &str) -> Subject {
    Subject {
        subject_id: id.to_owned(),
        subject_type: if slug.contains('@') { SubjectType::User } else { SubjectType::Serviceaccount },
        subject_slug: Some(slug.to_owned()),
        subject_display_name: Some(slug.to_owned()),
    }
}

pub fn group(caller: &Caller, integration: &Integration, row: GroupWithSecrets) -> Result<SecretGroup, ApiError> {
    let GroupWithSecrets { group, secrets, collaborators } = row;
    let mut manifest: SecretGroupManifest = serde_json::from_str(&group.manifest)
        .map_err(|e| ApiError::internal(format!("stored manifest of group {} is not valid: {e}", group.id)))?;
    // Who holds a role now (a deleted user, team or account no longer does), not who was named.
    manifest.collaborators = Some(
        collaborators
            .into_iter()
            .filter_map(|(subject, role)| Some(Collaborator { subject, role_id: RoleId::from_id(&role)? }))
            .collect(),
    );
    let integration_id = if group.integration_id.is_empty() { integration.id.clone() } else { group.integration_id };
    Ok(SecretGroup {
        fqn: format!("{}:{}", caller.tenant_name, group.name),
        id: group.id,
        name: group.name,
        tenant_name: caller.tenant_name.clone(),
        account_id: caller.tenant_id.clone(),
        integration_id,
        manifest,
        created_by_subject: subject(&group.created_by_user_id, &group.created_by_email),
        created_by: group.created_by_email,
        // Group answers never carry values, whatever the row holds.
        associated_secrets: secrets.into_iter().map(|s| secret(caller, s, false)).collect::<Result<_, _>>()?,
        created_at: Timestamp::from_millis(group.created_at)?,
        updated_at: Timestamp::from_millis(group.updated_at)?,
    })
}

pub fn secret(caller: &Caller, row: SecretRow, with_value: bool) -> Result<Secret, ApiError> {
    Ok(Secret {
        fqn: format!("{}:{}:{}", caller.tenant_name, row.group_name, row.name),
        id: row.id,
        name: row.name,
        secret_group_id: row.group_id,
        value: if with_value { row.value } else { None },
        created_by_subject: subject(&row.created_by_user_id, &row.created_by_email),
        created_by: row.created_by_email,
        created_at: Timestamp::from_millis(row.created_at)?,
        updated_at: Timestamp::from_millis(row.updated_at)?,
        secret_versions: None,
    })
}

pub fn versions(secret: &Secret, rows: Vec<VersionRow>) -> Result<Vec<SecretVersion>, ApiError> {
    rows.into_iter()
        .map(|v| {
            let at = Timestamp::from_millis(v.created_at)?;
            Ok(SecretVersion {
                fqn: format!("{}:{}", secret.fqn, v.version),
                id: v.id,
                secret_id: secret.id.clone(),
                version: v.version,
                value: Some(v.value),
                created_at: at,
                updated_at: at,
            })
        })
        .collect()
}
