//! The IAM documents a stage's role needs: Lambda may assume it, and the
//! function may write to its own log group only, plus what the user
//! grants in `[[permissions]]`.
//!
//! Pure text generation; the JSON is canonical (compact, sorted keys) so
//! comparing it with what IAM returns is a plain string comparison.

use serde_json::{Value, json};

use crate::config::Project;

pub const POLICY_NAME: &str = "slx";

pub fn trust_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "lambda.amazonaws.com" },
            "Action": "sts:AssumeRole",
        }],
    })
    .to_string()
}

/// The role's inline policy for `project` in `region` of `account`.
pub fn role_policy(project: &Project, region: &str, account: &str) -> String {
    let mut statements = vec![json!({
        "Sid": "OwnLogGroup",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": format!("arn:aws:logs:{region}:{account}:log-group:{}:*", project.log_group()),
    })];
    for permission in &project.permissions {
        statements.push(json!({
            "Effect": "Allow",
            "Action": permission.actions,
            "Resource": permission.resources,
        }));
    }
    canonical(&json!({ "Version": "2012-10-17", "Statement": statements }))
}

/// Compact JSON with sorted keys: equal documents give equal text.
pub fn canonical(value: &Value) -> String {
    // serde_json's Map is a BTreeMap (no preserve_order feature), so
    // serialising sorts keys.
    value.to_string()
}

/// IAM returns policy documents URL-encoded; decode and canonicalise.
pub fn canonical_from_iam(document: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(document)
        .decode_utf8()
        .ok()?;
    let value: Value = serde_json::from_str(&decoded).ok()?;
    Some(canonical(&value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_encoded_documents_compare_equal() {
        let ours = canonical(&json!({"b": 1, "a": [1, 2]}));
        assert_eq!(
            canonical_from_iam("%7B%22a%22%3A%20%5B1%2C%202%5D%2C%20%22b%22%3A%201%7D"),
            Some(ours.clone())
        );
        assert_eq!(canonical_from_iam(r#"{"b":1,"a":[1,2]}"#), Some(ours));
    }
}
