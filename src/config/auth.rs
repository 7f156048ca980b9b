//! Validates `[authorizers.NAME]` and each route's `auth` and `scopes`:
//! a Cognito user pool authorizer (JWTs), a Lambda authorizer (a
//! function of lib.rs, run as its own function), or `auth = "iam"`
//! (SigV4-signed calls). Checks what API Gateway would refuse and what
//! would silently not work (scopes on a non-Cognito route).
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-control-access-to-api.html>
//!
//! Pure.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::keys::closest;
use super::limits;
use super::model::{Authorizer, AuthorizerKind, RouteAuth};
use super::schema::RawAuthorizer;
use super::validate::Checker;

/// The `auth` value for IAM authorization: not an authorizer's name.
pub(super) const IAM: &str = "iam";
/// Security scheme names slx's OpenAPI document uses itself.
const RESERVED: [&str; 2] = ["api_key", "sigv4"];
/// The header a token comes in, when unset.
pub(super) const DEFAULT_HEADER: &str = "Authorization";
/// Seconds API Gateway caches a verdict, when unset (its default).
pub(super) const DEFAULT_TTL_S: u32 = 300;
/// API Gateway's most.
const TTL_MAX_S: i64 = 3600;

/// The authorizers slx.toml declares, if valid.
pub(crate) fn authorizers(
    check: &mut Checker,
    raw: &BTreeMap<Spanned<String>, Spanned<RawAuthorizer>>,
) -> Vec<Authorizer> {
    let mut found = Vec::new();
    for (name, table) in raw {
        let errors_before = check.errors.len();
        let text = name.get_ref();
        let key = |field: &str| format!("authorizers.{text}.{field}");
        let value = table.get_ref();
        if text == IAM {
            check.error(
                name.span(),
                &format!("authorizers.{text}"),
                "`iam` is IAM authorization itself, not an authorizer's name".into(),
                "use `auth = \"iam\"` on routes without a table, or name the authorizer otherwise",
            );
            continue;
        }
        if RESERVED.contains(&text.as_str()) {
            check.error(
                name.span(),
                &format!("authorizers.{text}"),
                format!("`{text}` is the name slx gives another security scheme of the API"),
                "name the authorizer otherwise, e.g. `users`",
            );
            continue;
        }
        if !text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
            || text.is_empty()
        {
            check.error(
                name.span(),
                &format!("authorizers.{text}"),
                format!("`{text}` cannot name an authorizer"),
                "use lowercase letters, digits, `_` and `-` (a Lambda authorizer's function is `<app>-<stage>-NAME`)",
            );
        }
        let kind = match (&value.cognito, &value.function) {
            (Some(_), Some(function)) => {
                check.error(
                    function.span(),
                    &key("function"),
                    "an authorizer is a Cognito user pool or a function, not both".into(),
                    "keep `cognito` (JWTs of the pool) or `function` (your own check in lib.rs)",
                );
                None
            }
            (None, None) => {
                check.error(
                    table.span(),
                    &format!("authorizers.{text}"),
                    format!("[authorizers.{text}] says neither `cognito` nor `function`"),
                    "set `cognito = [\"arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID\"]`, or `function = \"check_token\"` (a function of lib.rs)",
                );
                None
            }
            (Some(pools), None) => {
                if pools.get_ref().is_empty() {
                    check.error(
                        pools.span(),
                        &key("cognito"),
                        "`cognito` lists no user pool".into(),
                        "list the user pools whose tokens are accepted, by ARN",
                    );
                }
                for pool in pools.get_ref() {
                    if !is_user_pool_arn(pool.get_ref()) {
                        check.error(
                            pool.span(),
                            &key("cognito"),
                            format!("`{}` is not a Cognito user pool ARN", pool.get_ref()),
                            "copy it from the Cognito console: `arn:aws:cognito-idp:REGION:ACCOUNT:userpool/REGION_ID`",
                        );
                    }
                }
                if let Some(kind) = &value.kind {
                    check.error(
                        kind.span(),
                        &key("type"),
                        "`type` is for function authorizers".into(),
                        "remove it: a Cognito authorizer reads the token from `header`",
                    );
                }
                Some(AuthorizerKind::Cognito {
                    user_pools: pools
                        .get_ref()
                        .iter()
                        .map(|p| p.get_ref().clone())
                        .collect(),
                })
            }
            (None, Some(function)) => {
                if !limits::is_rust_identifier(function.get_ref()) {
                    check.error(
                        function.span(),
                        &key("function"),
                        format!("`{}` is not a Rust function name", function.get_ref()),
                        "name a `pub async fn` of lib.rs, e.g. `check_token`",
                    );
                }
                let request = match value
                    .kind
                    .as_ref()
                    .map(|k| (k.get_ref().as_str(), k.span()))
                {
                    None | Some(("token", _)) => false,
                    Some(("request", _)) => true,
                    Some((other, span)) => {
                        check.error(
                            span,
                            &key("type"),
                            format!("unknown authorizer type `{other}`"),
                            "use `token` (the function gets the header's token) or `request` (it gets headers, query and path)",
                        );
                        false
                    }
                };
                Some(AuthorizerKind::Function {
                    function: function.get_ref().clone(),
                    request,
                })
            }
        };
        let header = match &value.header {
            Some(header) if !is_header_name(header.get_ref()) => {
                check.error(
                    header.span(),
                    &key("header"),
                    format!("`{}` is not an HTTP header name", header.get_ref()),
                    "e.g. `Authorization` or `X-Partner-Token`",
                );
                DEFAULT_HEADER.to_string()
            }
            Some(header) => header.get_ref().clone(),
            None => DEFAULT_HEADER.to_string(),
        };
        let ttl = match &value.ttl {
            Some(ttl) if !(0..=TTL_MAX_S).contains(ttl.get_ref()) => {
                check.error(
                    ttl.span(),
                    &key("ttl"),
                    format!("`ttl` = {} is out of range", ttl.get_ref()),
                    &format!("seconds a verdict is cached for a token, 0 (never) to {TTL_MAX_S}"),
                );
                DEFAULT_TTL_S
            }
            Some(ttl) => *ttl.get_ref() as u32,
            None => DEFAULT_TTL_S,
        };
        if let (Some(kind), true) = (kind, check.errors.len() == errors_before) {
            found.push(Authorizer {
                name: text.clone(),
                kind,
                header,
                ttl,
            });
        }
    }
    found
}

/// A route's `auth` and `scopes`, checked against the authorizers.
pub(crate) fn route_auth(
    check: &mut Checker,
    auth: Option<&String>,
    scopes: Option<&Vec<String>>,
    authorizers: &BTreeMap<String, bool>,
    span: Range<usize>,
    key: &str,
) -> Option<RouteAuth> {
    let scopes = scopes.cloned().unwrap_or_default();
    let Some(auth) = auth else {
        if !scopes.is_empty() {
            check.error(
                span,
                key,
                "`scopes` without `auth`".into(),
                "add `auth = \"NAME\"` naming a Cognito authorizer of [authorizers]",
            );
        }
        return None;
    };
    if auth == IAM {
        if !scopes.is_empty() {
            check.error(
                span,
                key,
                "`scopes` with `auth = \"iam\"`: IAM has no OAuth scopes".into(),
                "remove `scopes`, or use a Cognito authorizer",
            );
        }
        return Some(RouteAuth::Iam);
    }
    let Some(cognito) = authorizers.get(auth) else {
        let names: Vec<&str> = authorizers
            .keys()
            .map(String::as_str)
            .chain([IAM])
            .collect();
        let help = match closest(auth, &names) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!(
                "declare it as [authorizers.{auth}], or use one of: {}",
                names.join(", ")
            ),
        };
        check.error(span, key, format!("no authorizer `{auth}`"), &help);
        return None;
    };
    if !cognito && !scopes.is_empty() {
        check.error(
            span.clone(),
            key,
            format!("`scopes` with authorizer `{auth}`, which is a function: only a Cognito authorizer checks scopes"),
            "check them in the function instead, or remove `scopes`",
        );
    }
    if scopes
        .iter()
        .any(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        check.error(
            span,
            key,
            "a scope is empty or holds a space".into(),
            "write each scope as Cognito names it, e.g. `orders/read`",
        );
    }
    Some(RouteAuth::Authorizer {
        name: auth.clone(),
        scopes,
    })
}

/// `arn:PARTITION:cognito-idp:REGION:ACCOUNT:userpool/REGION_ID`.
fn is_user_pool_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "cognito-idp", region, account, rest]
            if partition.starts_with("aws")
                && !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && rest.strip_prefix("userpool/").is_some_and(|id| id.contains('_'))
    )
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_pool_arns() {
        assert!(is_user_pool_arn(
            "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123"
        ));
        assert!(!is_user_pool_arn(
            "arn:aws:cognito-idp:eu-west-1:123456789012:identitypool/x"
        ));
        assert!(!is_user_pool_arn("eu-west-1_AbCdEf123"));
    }
}
