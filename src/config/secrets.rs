//! Validates `[secrets]` (and each stage's `[stages.NAME.secrets]`): a
//! variable name the function may have, a reference to an SSM parameter
//! or a Secrets Manager secret that AWS would accept, a KMS key ARN, and
//! no name that `[env]` also sets (the value would be ambiguous).
//!
//! Pure: whether the parameter exists is the handler's question at cold
//! start (it says which one it could not read, never its value).

use std::collections::BTreeMap;

use toml::Spanned;

use super::limits;
use super::model::{Secret, SecretSource};
use super::schema::{RawSecret, SpannedMap};
use super::validate::Checker;

/// The secrets of one table (`[secrets]` or a stage's).
pub(crate) fn secrets(
    check: &mut Checker,
    raw: &SpannedMap<RawSecret>,
    table: &str,
) -> BTreeMap<String, Secret> {
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        if let Some(secret) = one(check, name, value, table) {
            out.insert(secret.name.clone(), secret);
        }
    }
    out
}

fn one(
    check: &mut Checker,
    name: &Spanned<String>,
    value: &Spanned<RawSecret>,
    table: &str,
) -> Option<Secret> {
    let key = format!("{table}.{}", name.get_ref());
    if let Some(problem) = limits::env_name_problem(name.get_ref()) {
        check.error(
            name.span(),
            &key,
            format!("secret `{}` {problem}", name.get_ref()),
            "a secret becomes an environment variable of the function: name it like one, e.g. `DB_PASSWORD`",
        );
        return None;
    }
    let (from, kms_key) = match value.get_ref() {
        RawSecret::From(from) => (Some(from), None),
        RawSecret::Table { from, kms_key } => (from.as_ref(), kms_key.as_ref()),
    };
    let Some(from) = from else {
        check.error(
            value.span(),
            &key,
            format!("secret `{}` says not where it is", name.get_ref()),
            "write `from = \"ssm:/app/db-password\"` or `from = \"secretsmanager:app/db\"`",
        );
        return None;
    };
    let source = match source(from) {
        Ok(source) => source,
        Err(problem) => {
            check.error(
                value.span(),
                &key,
                problem,
                "`ssm:/path/to/parameter` (SSM Parameter Store) or `secretsmanager:name` (Secrets Manager)",
            );
            return None;
        }
    };
    if let Some(arn) = kms_key
        && !kms_key_looks_valid(arn)
    {
        check.error(
            value.span(),
            &format!("{key}.kms_key"),
            format!("`{arn}` is not a KMS key ARN"),
            "arn:aws:kms:REGION:ACCOUNT:key/KEY-ID (the role may then decrypt with that key only)",
        );
        return None;
    }
    Some(Secret {
        name: name.get_ref().clone(),
        source,
        kms_key: kms_key.cloned(),
    })
}

/// `ssm:/a/b` or `secretsmanager:name`, with the names AWS accepts.
fn source(from: &str) -> Result<SecretSource, String> {
    if let Some(name) = from.strip_prefix("ssm:") {
        // https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html
        let valid = !name.is_empty()
            && name.len() <= 2048
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
            && !name.contains("//")
            && (!name.contains('/') || name.starts_with('/'));
        return if valid {
            Ok(SecretSource::Ssm(name.to_string()))
        } else {
            Err(format!(
                "`{name}` is not an SSM parameter name (letters, digits, `_.-/`; a path starts with `/`)"
            ))
        };
    }
    if let Some(id) = from.strip_prefix("secretsmanager:") {
        // https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html
        let name_valid = |name: &str| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
        };
        // An ARN goes into the role's policy as is: a `*` or `?` in it
        // would grant a wildcard of secrets.
        let valid = !id.is_empty()
            && id.len() <= 2048
            && if id.starts_with("arn:") {
                matches!(
                    id.splitn(7, ':').collect::<Vec<_>>().as_slice(),
                    ["arn", _, "secretsmanager", region, account, "secret", name]
                        if limits::region_looks_valid(region)
                            && limits::account_looks_valid(account)
                            && name_valid(name)
                )
            } else {
                name_valid(id)
            };
        return if valid {
            Ok(SecretSource::SecretsManager(id.to_string()))
        } else {
            Err(format!(
                "`{id}` is not a Secrets Manager secret name (letters, digits, `/_+=.@-`) or ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)"
            ))
        };
    }
    Err(format!("`{from}` names no secret store"))
}

fn kms_key_looks_valid(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    matches!(
        parts.as_slice(),
        ["arn", _, "kms", region, account, resource]
            if limits::region_looks_valid(region)
                && limits::account_looks_valid(account)
                && (resource.starts_with("key/") || resource.starts_with("alias/"))
    )
}

/// A name both `[env]` and `[secrets]` set (for the stage) is an error:
/// which value would the app get?
pub(crate) fn check_clash(
    check: &mut Checker,
    env: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, Secret>,
    span: std::ops::Range<usize>,
    table: &str,
) {
    for name in secrets.keys().filter(|name| env.contains_key(*name)) {
        check.error(
            span.clone(),
            &format!("{table}.{name}"),
            format!("`{name}` is set in both [env] and [secrets]"),
            "keep it in one: [secrets] for values that must not be seen, [env] for the rest",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secrets_manager_arn_names_one_secret() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/token-a1B2c3";
        assert_eq!(
            source(&format!("secretsmanager:{arn}")),
            Ok(SecretSource::SecretsManager(arn.to_string()))
        );
        for wild in [
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:*",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/?oken",
            "arn:aws:secretsmanager:*:123456789012:secret:shop/token",
            "arn:aws:ssm:eu-west-1:123456789012:parameter/shop",
        ] {
            assert!(source(&format!("secretsmanager:{wild}")).is_err(), "{wild}");
        }
    }
}
