//! Names on the command line and in references: a group is `GROUP` or `TENANT:GROUP`, a secret
//! `GROUP:KEY` or `TENANT:GROUP:KEY` (the caller's tenant by default), and a reference is
//! `tfy-secret://TENANT:GROUP:KEY`, as the server's FQNs are written. Checked here against the
//! server's own name rules so that a typo is a usage error before any request.

use std::fmt;

use crate::error::{CliError, Result};

/// TrueFoundry's scheme for a reference to a secret.
pub const REFERENCE_SCHEME: &str = "tfy-secret://";

/// A group, with its tenant when the caller named one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupRef {
    pub tenant: Option<String>,
    pub name: String,
}

/// A key of a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretRef {
    pub group: GroupRef,
    pub key: String,
}

impl fmt::Display for GroupRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tenant {
            Some(tenant) => write!(f, "{tenant}:{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.group, self.key)
    }
}

/// `^[A-Za-z0-9][A-Za-z0-9._-]{1,126}$`, the server's rule for group names.
pub fn valid_group_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    (2..=127).contains(&name.len()) && first_ok && chars.all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// `^[A-Za-z_][A-Za-z0-9_.-]{0,254}$`, the server's rule for keys.
pub fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    (1..=255).contains(&key.len()) && first_ok && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Tenant names follow the group rule on the server; only emptiness and `:` matter here.
fn valid_tenant(tenant: &str) -> bool {
    !tenant.is_empty() && !tenant.contains(char::is_whitespace)
}

fn group_name(name: &str, whole: &str) -> Result<String> {
    if valid_group_name(name) {
        Ok(name.to_owned())
    } else {
        Err(CliError::usage(format!(
            "`{whole}`: `{name}` is not a group name (2 to 127 letters, digits, `.`, `_`, `-`, starting with a letter or digit)"
        )))
    }
}

/// Checks a key given on the command line or in a file.
pub fn key(key: &str) -> Result<String> {
    if valid_key(key) {
        Ok(key.to_owned())
    } else {
        Err(CliError::usage(format!(
            "`{key}` is not a key (letters, digits, `_`, `.`, `-`, starting with a letter or `_`, at most 255)"
        )))
    }
}

fn tenant(tenant: &str, whole: &str) -> Result<String> {
    if valid_tenant(tenant) {
        Ok(tenant.to_owned())
    } else {
        Err(CliError::usage(format!("`{whole}`: empty tenant name")))
    }
}

/// `GROUP` or `TENANT:GROUP`.
pub fn parse_group(text: &str) -> Result<GroupRef> {
    match text.split(':').collect::<Vec<_>>()[..] {
        [name] => Ok(GroupRef { tenant: None, name: group_name(name, text)? }),
        [t, name] => Ok(GroupRef { tenant: Some(tenant(t, text)?), name: group_name(name, text)? }),
        _ => Err(CliError::usage(format!("`{text}` is not a group: write GROUP or TENANT:GROUP"))),
    }
}

/// `GROUP:KEY` or `TENANT:GROUP:KEY`.
pub fn parse_secret(text: &str) -> Result<SecretRef> {
    match text.split(':').collect::<Vec<_>>()[..] {
        [group, k] => Ok(SecretRef { group: GroupRef { tenant: None, name: group_name(group, text)? }, key: key(k)? }),
        [t, group, k] => Ok(SecretRef {
            group: GroupRef { tenant: Some(tenant(t, text)?), name: group_name(group, text)? },
            key: key(k)?,
        }),
        _ => Err(CliError::usage(format!("`{text}` is not a secret: write GROUP:KEY or TENANT:GROUP:KEY"))),
    }
}

/// Whether `value` is meant as a reference (starts with the scheme), well-formed or not.
pub fn is_reference(value: &str) -> bool {
    value.starts_with(REFERENCE_SCHEME)
}

/// `tfy-secret://TENANT:GROUP:KEY`: the tenant is required, as in TrueFoundry's references.
pub fn parse_reference(text: &str) -> Result<SecretRef> {
    let malformed = || {
        CliError::failed(format!(
            "malformed reference `{text}`: write {REFERENCE_SCHEME}TENANT:GROUP:KEY (e.g. {REFERENCE_SCHEME}default:payments:API_KEY)"
        ))
    };
    let rest = text.strip_prefix(REFERENCE_SCHEME).ok_or_else(malformed)?;
    match rest.split(':').collect::<Vec<_>>()[..] {
        [t, group, k] if valid_tenant(t) && valid_group_name(group) && valid_key(k) => {
            Ok(SecretRef { group: GroupRef { tenant: Some(t.to_owned()), name: group.to_owned() }, key: k.to_owned() })
        }
        _ => Err(malformed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_secrets_with_and_without_tenant() {
        assert_eq!(parse_group("payments").unwrap(), GroupRef { tenant: None, name: "payments".into() });
        assert_eq!(parse_group("acme:payments").unwrap().tenant.as_deref(), Some("acme"));
        let s = parse_secret("payments:API_KEY").unwrap();
        assert_eq!((s.group.tenant, s.group.name.as_str(), s.key.as_str()), (None, "payments", "API_KEY"));
        let s = parse_secret("acme:payments:API_KEY").unwrap();
        assert_eq!(s.group.tenant.as_deref(), Some("acme"));
        for bad in ["", "a", "-x", "a:b:c", "x y", ":g"] {
            assert_eq!(parse_group(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
        for bad in ["g", "g:1KEY", "a:b:c:d", "g:"] {
            assert_eq!(parse_secret(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn references_need_scheme_tenant_group_and_key() {
        let r = parse_reference("tfy-secret://acme:payments:API_KEY").unwrap();
        assert_eq!(r.to_string(), "acme:payments:API_KEY");
        for bad in ["tfy-secret://payments:API_KEY", "tfy-secret://a:b:c:d", "tfy-secret://", "tfy-secret://a:b c:K"] {
            assert!(parse_reference(bad).unwrap_err().to_string().contains("malformed reference"), "{bad}");
        }
    }
}
