//! Turns `tfy-secret://TENANT:GROUP:KEY` references into values: all references are parsed
//! first (a malformed one fails before any request), then fetched with one list call per group.

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    api::Api,
    error::Result,
    names::{GroupRef, SecretRef, parse_reference},
};

/// The values of `references`, by reference text.
pub async fn resolve(api: &Api, references: &BTreeSet<String>) -> Result<BTreeMap<String, String>> {
    let mut by_group: BTreeMap<GroupRef, Vec<(String, SecretRef)>> = BTreeMap::new();
    for text in references {
        let secret = parse_reference(text)?;
        by_group.entry(secret.group.clone()).or_default().push((text.clone(), secret));
    }
    let mut values = BTreeMap::new();
    for (group, wanted) in by_group {
        let keys: BTreeSet<String> = wanted.iter().map(|(_, s)| s.key.clone()).collect();
        let found = api.values_of(&group, &keys).await?;
        for (text, secret) in wanted {
            if let Some(value) = found.get(&secret.key) {
                values.insert(text, value.clone());
            }
        }
    }
    Ok(values)
}
