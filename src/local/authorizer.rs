//! What API Gateway does with a function authorizer's answer, for
//! `slx dev`: the policy allows the call when an `Allow` statement's
//! resource matches the call's method ARN and no `Deny` does; its
//! `context` (with `principalId`) becomes the route's
//! `requestContext.authorizer`. A verdict is kept for the authorizer's
//! `ttl` per token, and judged again against each call, as API Gateway
//! does with a cached policy.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html>
//!
//! Pure: the clock is passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::contract::iam_pattern;

/// API Gateway's answer to a call the policy does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// An explicit `Deny` matched (403, "... with an explicit deny").
    Denied,
    /// No `Allow` matched (403).
    NotAllowed,
    /// The answer is not a policy (500).
    Malformed(String),
}

impl Refused {
    /// API Gateway's status and message.
    pub fn answer(&self) -> (u16, &'static str) {
        match self {
            Refused::Denied => (
                403,
                "User is not authorized to access this resource with an explicit deny",
            ),
            Refused::NotAllowed => (403, "User is not authorized to access this resource"),
            Refused::Malformed(_) => (500, "Internal server error"),
        }
    }
}

fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => vec![],
        other => vec![other],
    }
}

/// The `requestContext.authorizer` of a call `answer` allows to
/// `method_arn`, or why it refuses it.
pub fn judge(answer: &Value, method_arn: &str) -> Result<Value, Refused> {
    let statements = answer["policyDocument"]["Statement"].clone();
    if statements.is_null() {
        return Err(Refused::Malformed(
            "the authorizer's answer has no policyDocument.Statement".into(),
        ));
    }
    let mut allowed = false;
    for statement in as_list(&statements) {
        let invokes = as_list(&statement["Action"]).iter().any(|action| {
            action
                .as_str()
                .is_some_and(|a| iam_pattern::matches(a, "execute-api:Invoke"))
        });
        let reaches = as_list(&statement["Resource"]).iter().any(|resource| {
            resource
                .as_str()
                .is_some_and(|r| iam_pattern::matches(r, method_arn))
        });
        if !(invokes && reaches) {
            continue;
        }
        match statement["Effect"].as_str() {
            Some("Deny") => return Err(Refused::Denied),
            Some("Allow") => allowed = true,
            _ => {}
        }
    }
    if !allowed {
        return Err(Refused::NotAllowed);
    }
    let mut context: Map<String, Value> = match &answer["context"] {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    if let Some(principal) = answer["principalId"].as_str() {
        context.insert("principalId".into(), Value::from(principal));
    }
    Ok(Value::Object(context))
}

/// Verdicts kept per authorizer and token, for the authorizer's `ttl`.
#[derive(Debug, Default)]
pub struct VerdictCache {
    kept: HashMap<(String, String), (Instant, Value)>,
}

impl VerdictCache {
    /// The answer `authorizer` gave for `token` within `ttl` of `now`.
    pub fn get(&self, authorizer: &str, token: &str, ttl: Duration, now: Instant) -> Option<Value> {
        let (at, answer) = self
            .kept
            .get(&(authorizer.to_string(), token.to_string()))?;
        (now.duration_since(*at) < ttl).then(|| answer.clone())
    }

    pub fn keep(&mut self, authorizer: &str, token: &str, answer: Value, now: Instant) {
        self.kept
            .insert((authorizer.to_string(), token.to_string()), (now, answer));
    }

    /// Forgets every verdict (a reload may change the authorizer).
    pub fn clear(&mut self) {
        self.kept.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:execute-api:us-east-1:000000000000:local/dev/GET/orders/7";

    fn answer(effect: &str, resource: &str) -> Value {
        serde_json::json!({
            "principalId": "u1",
            "policyDocument": { "Version": "2012-10-17", "Statement": [
                { "Action": "execute-api:Invoke", "Effect": effect, "Resource": resource }
            ]},
            "context": { "tier": "gold", "limit": 5 },
        })
    }

    #[test]
    fn an_allow_matching_the_call_passes_its_context() {
        let context = judge(
            &answer(
                "Allow",
                "arn:aws:execute-api:us-east-1:000000000000:local/dev/*",
            ),
            ARN,
        )
        .unwrap();
        assert_eq!(
            context,
            serde_json::json!({ "tier": "gold", "limit": 5, "principalId": "u1" })
        );
        assert_eq!(
            judge(
                &answer(
                    "Allow",
                    "arn:aws:execute-api:us-east-1:000000000000:local/dev/POST/*"
                ),
                ARN
            ),
            Err(Refused::NotAllowed)
        );
        assert_eq!(judge(&answer("Deny", "*"), ARN), Err(Refused::Denied));
        assert!(matches!(
            judge(&serde_json::json!({}), ARN),
            Err(Refused::Malformed(_))
        ));
    }

    #[test]
    fn verdicts_are_kept_for_their_ttl() {
        let mut cache = VerdictCache::default();
        let now = Instant::now();
        cache.keep("partners", "t1", serde_json::json!(1), now);
        let ttl = Duration::from_secs(300);
        assert_eq!(
            cache.get("partners", "t1", ttl, now + Duration::from_secs(299)),
            Some(serde_json::json!(1))
        );
        assert_eq!(
            cache.get("partners", "t1", ttl, now + Duration::from_secs(300)),
            None
        );
        assert_eq!(cache.get("partners", "t2", ttl, now), None);
        assert_eq!(cache.get("partners", "t1", Duration::ZERO, now), None);
    }
}
