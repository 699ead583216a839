//! Every call the command line makes, on the generated client: finding a group by name, reading
//! values, and the one read-modify-write of a group's secret set that `set`, `unset`, `import`
//! and `groups create` go through.

use std::{
    collections::{BTreeMap, BTreeSet},
    num::NonZeroU64,
};

use secret_groups_client::{
    Client,
    types::{
        CreateSecretGroupRequest, ListSecretsRequest, Secret, SecretGroup, SecretInput, UpdateSecretGroupRequest,
        UpdateSecretInput,
    },
};

use crate::{
    error::{CliError, Result, from_api},
    names::{GroupRef, SecretRef},
};

/// The only integration this server has (its default id); create requires it.
const INTEGRATION_ID: &str = "internal-secret-store";
/// A group has at most 500 secrets, so one page of this size holds all of them.
const PAGE: u64 = 1000;
/// Lists of groups stop after this many pages (a million groups), whatever the server says.
const MAX_PAGES: u64 = 1000;

pub struct Api {
    client: Client,
    tenant: tokio::sync::OnceCell<String>,
}

/// What a change to a group's secret set did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub changed: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
}

fn page() -> NonZeroU64 {
    NonZeroU64::new(PAGE).unwrap_or(NonZeroU64::MIN)
}

impl Api {
    pub fn new(url: &str, token: &str) -> Result<Self> {
        let client = Client::with_token(url, token).map_err(|e| CliError::failed(e.to_string()))?;
        Ok(Self { client, tenant: tokio::sync::OnceCell::new() })
    }

    /// The caller's tenant (`GET /x/users/info`), asked once.
    pub async fn tenant(&self) -> Result<&str> {
        let tenant = self
            .tenant
            .get_or_try_init(|| async {
                let me = self.client.get_current_user().send().await.map_err(from_api)?;
                Ok::<_, CliError>(me.into_inner().tenant_name)
            })
            .await?;
        Ok(tenant)
    }

    pub async fn whoami(&self) -> Result<(String, String)> {
        let me = self.client.get_current_user().send().await.map_err(from_api)?.into_inner();
        Ok((me.subject_slug, me.tenant_name))
    }

    async fn tenant_of<'a>(&'a self, group: &'a GroupRef) -> Result<&'a str> {
        match &group.tenant {
            Some(tenant) => Ok(tenant),
            None => self.tenant().await,
        }
    }

    /// The group named `group`, or an error saying it does not exist and how to list groups.
    pub async fn find_group(&self, group: &GroupRef) -> Result<SecretGroup> {
        self.lookup_group(group).await?.ok_or_else(|| self.no_group(group, None))
    }

    fn no_group(&self, group: &GroupRef, tenant: Option<&str>) -> CliError {
        let tenant = tenant.or(group.tenant.as_deref()).or(self.tenant.get().map(String::as_str)).unwrap_or("?");
        CliError::failed(format!(
            "no group {} in tenant {tenant} (or you may not see it); `secret-groups groups list`",
            group.name
        ))
    }

    pub async fn lookup_group(&self, group: &GroupRef) -> Result<Option<SecretGroup>> {
        let tenant = self.tenant_of(group).await?;
        let fqn = format!("{tenant}:{}", group.name);
        let answer = self.client.list_secret_groups().fqn(fqn).limit(NonZeroU64::MIN).send().await.map_err(from_api)?;
        Ok(answer.into_inner().data.into_iter().next())
    }

    /// Every group the caller may see (all pages), optionally filtered by `search`.
    pub async fn list_groups(&self, search: Option<&str>) -> Result<Vec<SecretGroup>> {
        let mut groups = Vec::new();
        for number in 0..MAX_PAGES {
            let mut request = self.client.list_secret_groups().limit(page()).offset((number * PAGE) as i64);
            if let Some(search) = search {
                request = request.search(search.to_owned());
            }
            let data = request.send().await.map_err(from_api)?.into_inner().data;
            let last = (data.len() as u64) < PAGE;
            groups.extend(data);
            if last {
                break;
            }
        }
        Ok(groups)
    }

    /// The group's keys and current values, by key, in one list call.
    pub async fn values(&self, group: &SecretGroup) -> Result<BTreeMap<String, String>> {
        let body = ListSecretsRequest {
            limit: Some(page()),
            offset: Some(0),
            secret_fqns: None,
            secret_group_id: Some(group.id.clone()),
            with_value: Some(true),
        };
        let secrets = self.client.list_secrets().body(body).send().await.map_err(from_api)?.into_inner().data;
        Ok(secrets.into_iter().map(|s| (s.name, s.value.unwrap_or_default())).collect())
    }

    /// The values of `keys` of one group, in one list call; a key the answer lacks is an error.
    pub async fn values_of(&self, group: &GroupRef, keys: &BTreeSet<String>) -> Result<BTreeMap<String, String>> {
        let tenant = self.tenant_of(group).await?.to_owned();
        let fqns: Vec<String> = keys.iter().map(|k| format!("{tenant}:{}:{k}", group.name)).collect();
        let body = ListSecretsRequest {
            limit: Some(page()),
            offset: Some(0),
            secret_fqns: Some(fqns),
            secret_group_id: None,
            with_value: Some(true),
        };
        let secrets = self.client.list_secrets().body(body).send().await.map_err(from_api)?.into_inner().data;
        let found: BTreeMap<String, String> =
            secrets.into_iter().map(|s| (s.name, s.value.unwrap_or_default())).collect();
        if let Some(missing) = keys.iter().find(|k| !found.contains_key(*k)) {
            return Err(self.missing_key(group, &tenant, missing).await);
        }
        Ok(found)
    }

    /// Why a key was not answered: no such group, no such key, or no right to read it.
    async fn missing_key(&self, group: &GroupRef, tenant: &str, key: &str) -> CliError {
        let qualified = GroupRef { tenant: Some(tenant.to_owned()), name: group.name.clone() };
        match self.lookup_group(&qualified).await {
            Ok(None) => self.no_group(group, Some(tenant)),
            Ok(Some(g)) if g.associated_secrets.iter().any(|s| s.name == key) => CliError::failed(format!(
                "HTTP 403 forbidden: you may see {tenant}:{}:{key} but not read its value (viewer role)",
                group.name
            )),
            Ok(Some(_)) => CliError::failed(format!(
                "no key {key} in group {tenant}:{}; `secret-groups groups get {}`",
                group.name, group.name
            )),
            Err(e) => e,
        }
    }

    /// One secret's value.
    pub async fn value(&self, secret: &SecretRef) -> Result<String> {
        let keys = BTreeSet::from([secret.key.clone()]);
        let mut values = self.values_of(&secret.group, &keys).await?;
        values.remove(&secret.key).ok_or_else(|| CliError::failed("the server did not answer the value"))
    }

    /// A secret with all its versions (`GET /secrets/{id}`).
    pub async fn secret_with_history(&self, secret: &SecretRef) -> Result<Secret> {
        let group = self.find_group(&secret.group).await?;
        let id =
            group.associated_secrets.iter().find(|s| s.name == secret.key).map(|s| s.id.clone()).ok_or_else(|| {
                CliError::failed(format!(
                    "no key {} in group {}; `secret-groups groups get {}`",
                    secret.key, group.fqn, group.name
                ))
            })?;
        Ok(self.client.get_secret().id(id).send().await.map_err(from_api)?.into_inner().data)
    }

    pub async fn create_group(&self, group: &GroupRef, values: &BTreeMap<String, String>) -> Result<SecretGroup> {
        if let Some(tenant) = &group.tenant
            && tenant != self.tenant().await?
        {
            return Err(CliError::usage(format!("groups are created in your own tenant, {}", self.tenant().await?)));
        }
        let secrets = values
            .iter()
            .map(|(k, v)| Ok(SecretInput { key: k.parse().map_err(invalid)?, value: v.parse().map_err(invalid)? }))
            .collect::<Result<Vec<_>>>()?;
        let body = CreateSecretGroupRequest {
            integration_id: INTEGRATION_ID.parse().map_err(invalid)?,
            name: group.name.parse().map_err(invalid)?,
            secrets,
        };
        Ok(self.client.create_secret_group().body(body).send().await.map_err(from_api)?.into_inner().data)
    }

    pub async fn delete_group(&self, group: &SecretGroup) -> Result<()> {
        self.client.delete_secret_group().id(group.id.clone()).send().await.map_err(from_api)?;
        Ok(())
    }

    /// Sets `set` and removes `unset`, keeping every other key of the group as it is.
    ///
    /// The API only replaces a group's whole secret set (omitted keys are deleted, a key sent
    /// without a value keeps its value), so this reads the current keys and sends all of them.
    /// This is the one place that does so: when the server offers `If-Match` on the group, the
    /// check-and-set (send the read's ETag, re-read and retry on 412) belongs here. Until then
    /// a key added by someone else between the read and the write is lost.
    pub async fn change(
        &self,
        group: &SecretGroup,
        set: &BTreeMap<String, String>,
        unset: &BTreeSet<String>,
    ) -> Result<Outcome> {
        let current = self.values(group).await?;
        let existing: BTreeSet<&String> = group.associated_secrets.iter().map(|s| &s.name).collect();
        if let Some(unknown) = unset.iter().find(|k| !existing.contains(k)) {
            return Err(CliError::failed(format!("no key {unknown} in group {}; nothing was changed", group.fqn)));
        }
        let mut outcome = Outcome::default();
        let mut secrets = Vec::new();
        for key in &existing {
            if unset.contains(*key) {
                outcome.removed.push((*key).clone());
                continue;
            }
            let value = set.get(*key).filter(|v| current.get(*key) != Some(*v));
            match value {
                Some(_) => outcome.changed.push((*key).clone()),
                None => outcome.unchanged.push((*key).clone()),
            }
            secrets.push(entry(key, value)?);
        }
        for (key, value) in set.iter().filter(|(k, _)| !existing.contains(k)) {
            outcome.added.push(key.clone());
            secrets.push(entry(key, Some(value))?);
        }
        if secrets.is_empty() {
            return Err(CliError::failed(format!(
                "a group keeps at least one key; to remove {} entirely: `secret-groups groups delete {}`",
                group.fqn, group.name
            )));
        }
        if outcome.changed.is_empty() && outcome.added.is_empty() && outcome.removed.is_empty() {
            return Ok(outcome);
        }
        let body = UpdateSecretGroupRequest { secrets };
        self.client.update_secret_group().id(group.id.clone()).body(body).send().await.map_err(from_api)?;
        Ok(outcome)
    }
}

fn entry(key: &str, value: Option<&String>) -> Result<UpdateSecretInput> {
    Ok(UpdateSecretInput {
        key: key.parse().map_err(invalid)?,
        value: value.map(|v| v.parse()).transpose().map_err(invalid)?,
    })
}

/// The generated types check names and values against the document's rules; their message
/// names the rule, never the value.
fn invalid(e: impl std::fmt::Display) -> CliError {
    CliError::usage(format!("refused before sending: {e}"))
}
