//! What each subcommand does, on top of `api.rs`: reading pairs from arguments, files and
//! stdin, and printing answers (never a value except where the command exists to print one).

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{IsTerminal as _, Read as _},
    path::{Path, PathBuf},
};

use secret_groups_client::types::SecretGroup;
use serde_json::json;

use crate::{
    api::{Api, Outcome},
    args::{GroupsCommand, Output},
    error::{CliError, Result},
    formats::{self, Format},
    inject::write_private,
    names::{self, parse_group, parse_secret},
    output,
};

/// Values read from stdin are bounded like the API's values (65,536 characters, 4 bytes each).
const MAX_STDIN_BYTES: u64 = 4 * 65_536;

pub async fn groups(api: &Api, command: GroupsCommand, out: Output) -> Result<()> {
    match command {
        GroupsCommand::List { search } => {
            let groups = api.list_groups(search.as_deref()).await?;
            if out == Output::Json {
                return output::json(&groups.iter().map(summary).collect::<Vec<_>>());
            }
            let rows = groups
                .iter()
                .map(|g| vec![g.fqn.clone(), g.associated_secrets.len().to_string(), g.updated_at.to_rfc3339()])
                .collect::<Vec<_>>();
            output::table(&["GROUP", "KEYS", "UPDATED"], &rows)
        }
        GroupsCommand::Get { group } => {
            let group = api.find_group(&parse_group(&group)?).await?;
            if out == Output::Json {
                return output::json(&group);
            }
            println!(
                "{}  (id {}, created by {} at {})",
                group.fqn,
                group.id,
                group.created_by,
                group.created_at.to_rfc3339()
            );
            let rows = group
                .associated_secrets
                .iter()
                .map(|s| vec![s.name.clone(), s.updated_at.to_rfc3339()])
                .collect::<Vec<_>>();
            output::table(&["KEY", "UPDATED"], &rows)
        }
        GroupsCommand::Create { group, pairs, from_file } => {
            let group = parse_group(&group)?;
            let values = pairs_from(&pairs, from_file.as_deref())?;
            let created = api.create_group(&group, &values).await?;
            output::note(&format!("created {} with {} keys", created.fqn, created.associated_secrets.len()));
            if out == Output::Json { output::json(&summary(&created)) } else { Ok(()) }
        }
        GroupsCommand::Delete { group, yes } => {
            let group = api.find_group(&parse_group(&group)?).await?;
            if !yes {
                confirm_delete(&group)?;
            }
            api.delete_group(&group).await?;
            output::note(&format!("deleted {} and its {} keys", group.fqn, group.associated_secrets.len()));
            Ok(())
        }
    }
}

fn summary(group: &SecretGroup) -> serde_json::Value {
    json!({
        "fqn": group.fqn,
        "id": group.id,
        "name": group.name,
        "keys": group.associated_secrets.iter().map(|s| &s.name).collect::<Vec<_>>(),
        "createdAt": group.created_at,
        "updatedAt": group.updated_at,
    })
}

/// Asks the person at the terminal to type the group's name; refuses without a terminal.
fn confirm_delete(group: &SecretGroup) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(format!("deleting {} needs --yes when stdin is not a terminal", group.fqn)));
    }
    eprint!(
        "Delete {} with its {} keys and all their versions? Type the group's name to confirm: ",
        group.fqn,
        group.associated_secrets.len()
    );
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if answer.trim() == group.name { Ok(()) } else { Err(CliError::failed("not confirmed; nothing was deleted")) }
}

/// `get GROUP:KEY` prints the value alone (for `$(…)`); `get GROUP` prints the whole group.
pub async fn get(api: &Api, name: &str, format: Format, out: Output) -> Result<()> {
    if name.contains(':') {
        let secret = parse_secret(name)?;
        let value = api.value(&secret).await?;
        if out == Output::Json {
            return output::json(&json!({ "fqn": secret.to_string(), "value": value }));
        }
        return output::raw(&value);
    }
    let group = api.find_group(&parse_group(name)?).await?;
    output::raw(&formats::render(&api.values(&group).await?, format)?)
}

pub async fn set(api: &Api, group: &str, pairs: &[String], from_file: Option<&Path>, out: Output) -> Result<()> {
    let group_ref = parse_group(group)?;
    let values = pairs_from(pairs, from_file)?;
    if values.is_empty() {
        return Err(CliError::usage("nothing to set: give KEY=VALUE pairs or --from-file FILE"));
    }
    let group = api
        .find_group(&group_ref)
        .await
        .map_err(|e| e.context(format!("(create it with `secret-groups groups create {}`)", group_ref.name)))?;
    let outcome = api.change(&group, &values, &BTreeSet::new()).await?;
    report(&group, &outcome, out)
}

pub async fn unset(api: &Api, group: &str, keys: &[String], out: Output) -> Result<()> {
    let group = api.find_group(&parse_group(group)?).await?;
    let keys = keys.iter().map(|k| names::key(k)).collect::<Result<BTreeSet<_>>>()?;
    let outcome = api.change(&group, &BTreeMap::new(), &keys).await?;
    report(&group, &outcome, out)
}

pub async fn import(api: &Api, group: &str, file: &Path, format: Option<Format>, out: Output) -> Result<()> {
    let group_ref = parse_group(group)?;
    let values: BTreeMap<String, String> = formats::read_pairs(file, format)?.into_iter().collect();
    match api.lookup_group(&group_ref).await? {
        Some(group) => {
            let outcome = api.change(&group, &values, &BTreeSet::new()).await?;
            report(&group, &outcome, out)
        }
        None => {
            let created = api.create_group(&group_ref, &values).await?;
            let outcome = Outcome { added: values.into_keys().collect(), ..Outcome::default() };
            report(&created, &outcome, out)
        }
    }
}

pub async fn export(api: &Api, group: &str, format: Format, file: Option<PathBuf>) -> Result<()> {
    let group = api.find_group(&parse_group(group)?).await?;
    let text = formats::render(&api.values(&group).await?, format)?;
    match file {
        Some(path) => write_private(&path, text.as_bytes()),
        None => output::raw(&text),
    }
}

pub async fn history(api: &Api, secret: &str, values: bool, out: Output) -> Result<()> {
    let secret = api.secret_with_history(&parse_secret(secret)?).await?;
    let versions: Vec<_> = secret
        .secret_versions
        .iter()
        .map(|v| (v.version, v.created_at.to_rfc3339(), if values { v.value.clone() } else { None }))
        .collect();
    if out == Output::Json {
        let list: Vec<_> = versions
            .iter()
            .map(|(n, at, value)| match value {
                Some(value) => json!({ "version": n, "createdAt": at, "value": value }),
                None => json!({ "version": n, "createdAt": at }),
            })
            .collect();
        return output::json(&json!({ "fqn": secret.fqn, "versions": list }));
    }
    let headers: &[&str] = if values { &["VERSION", "CREATED", "VALUE"] } else { &["VERSION", "CREATED"] };
    let rows: Vec<Vec<String>> = versions
        .into_iter()
        .map(|(n, at, value)| [vec![n.to_string(), at], value.into_iter().collect()].concat())
        .collect();
    output::table(headers, &rows)
}

fn report(group: &SecretGroup, outcome: &Outcome, out: Output) -> Result<()> {
    if out == Output::Json {
        return output::json(&json!({
            "group": group.fqn,
            "added": outcome.added,
            "changed": outcome.changed,
            "removed": outcome.removed,
            "unchanged": outcome.unchanged,
        }));
    }
    output::note(&format!(
        "{}: {} added, {} changed, {} removed, {} unchanged",
        group.fqn,
        outcome.added.len(),
        outcome.changed.len(),
        outcome.removed.len(),
        outcome.unchanged.len()
    ));
    Ok(())
}

/// KEY=VALUE arguments (KEY=- from stdin, once) over the pairs of `from_file`; the arguments win.
fn pairs_from(pairs: &[String], from_file: Option<&Path>) -> Result<BTreeMap<String, String>> {
    let mut values: BTreeMap<String, String> = match from_file {
        Some(file) => formats::read_pairs(file, None)?.into_iter().collect(),
        None => BTreeMap::new(),
    };
    let mut stdin_used = false;
    for pair in pairs {
        let (key, value) =
            pair.split_once('=').ok_or_else(|| CliError::usage(format!("`{}` is not KEY=VALUE", names_only(pair))))?;
        let key = names::key(key)?;
        let value = if value == "-" {
            if std::mem::replace(&mut stdin_used, true) {
                return Err(CliError::usage("only one KEY=- can read stdin"));
            }
            read_stdin_value()?
        } else {
            value.to_owned()
        };
        values.insert(key, value);
    }
    Ok(values)
}

/// A malformed pair may be a value typed without its key: never echo it back.
fn names_only(pair: &str) -> String {
    if pair.len() <= 255 && names::valid_key(pair) { pair.to_owned() } else { "…".to_owned() }
}

fn read_stdin_value() -> Result<String> {
    let mut bytes = Vec::new();
    std::io::stdin().take(MAX_STDIN_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_STDIN_BYTES {
        return Err(CliError::failed("the value on stdin is longer than a value may be (65,536 characters)"));
    }
    let mut value = String::from_utf8(bytes).map_err(|_| CliError::failed("the value on stdin is not UTF-8"))?;
    // `echo value | secret-groups set G K=-` should store `value`, not `value\n`.
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    Ok(value)
}
