//! `audit verify | prune`: the operator's side of the audit trail.
//!
//! It must not hold SQL (`crate::store::audit`).

use anyhow::bail;

use crate::{
    config::{AuditPruneArgs, AuditVerifyArgs},
    server::open_store,
    store::{audit, identity},
};

/// Recomputes the chains; an error (non-zero exit) names the first bad event of each chain.
pub async fn verify(args: AuditVerifyArgs) -> anyhow::Result<()> {
    let (db, _keys) = open_store(&args.database).await?;
    let result = async {
        let tenant_id = match &args.tenant {
            Some(name) => Some(identity::tenant_by_name(&db, name).await?.id),
            None => None,
        };
        audit::verify(&db, tenant_id.as_deref()).await
    }
    .await;
    db.close().await;
    let verified = result?;
    if verified.mismatches.is_empty() {
        println!("audit trail verified: {} events in {} chains", verified.events, verified.chains);
        return Ok(());
    }
    for mismatch in &verified.mismatches {
        eprintln!("does not verify: {mismatch}");
    }
    bail!(
        "{} of {} chains do not verify (first: {})",
        verified.mismatches.len(),
        verified.chains,
        verified.mismatches[0]
    )
}

/// Deletes events before the date, anchoring each chain where it now starts.
pub async fn prune(args: AuditPruneArgs) -> anyhow::Result<()> {
    let (db, _keys) = open_store(&args.database).await?;
    super::operator::acting("");
    let result = audit::prune(&db, args.before.timestamp_millis()).await;
    db.close().await;
    let deleted = result?;
    println!("deleted {deleted} audit events before {}", args.before.to_rfc3339());
    Ok(())
}
