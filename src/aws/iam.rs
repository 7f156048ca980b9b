//! IAM: the stage's role and its one inline policy.
//!
//! API reference: <https://docs.aws.amazon.com/IAM/latest/APIReference/API_Operations.html>

use std::collections::HashMap;

use aws_sdk_iam::types::Tag;

use super::{AwsError, ErrorClass, Reader, Tags, Writer, absent};

/// What `CreateRole` sends.
#[derive(Debug, Clone)]
pub(crate) struct NewRole {
    pub(crate) name: String,
    pub(crate) trust_policy: String,
    pub(crate) description: String,
    pub(crate) tags: Tags,
    /// The managed policy set as its permissions boundary.
    pub(crate) permissions_boundary: Option<String>,
}

/// A role as `GetRole` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleInfo {
    pub(crate) tags: HashMap<String, String>,
    /// The trust policy as IAM returns it (URL-encoded JSON).
    pub(crate) trust_policy: Option<String>,
    /// The ARN of its permissions boundary, if it has one.
    pub(crate) permissions_boundary: Option<String>,
}

impl Reader {
    /// The role, if it exists.
    pub(crate) async fn role(&self, name: &str) -> Result<Option<RoleInfo>, AwsError> {
        let answer = absent(
            self.clients
                .iam
                .get_role()
                .role_name(name)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("read IAM role {name}"), &e)),
        )?;
        Ok(answer.and_then(|a| a.role).map(|role| RoleInfo {
            tags: role
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            trust_policy: role.assume_role_policy_document().map(str::to_string),
            permissions_boundary: role
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_string),
        }))
    }

    /// The inline policy document `policy` of the role, as IAM returns it
    /// (URL-encoded JSON); `None` if the role or the policy is absent.
    pub(crate) async fn role_policy(
        &self,
        role: &str,
        policy: &str,
    ) -> Result<Option<String>, AwsError> {
        let document = absent(
            self.clients
                .iam
                .get_role_policy()
                .role_name(role)
                .policy_name(policy)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("read IAM role {role}"), &e)),
        )?;
        Ok(document.map(|d| d.policy_document().to_string()))
    }
}

impl Writer {
    pub(crate) async fn create_role(&self, role: &NewRole) -> Result<(), AwsError> {
        let step = format!("create IAM role {}", role.name);
        let mut request = self
            .clients
            .iam
            .create_role()
            .role_name(&role.name)
            .assume_role_policy_document(&role.trust_policy)
            .description(&role.description)
            .set_permissions_boundary(role.permissions_boundary.clone());
        for (key, value) in &role.tags.0 {
            let tag = Tag::builder()
                .key(key)
                .value(value)
                .build()
                .map_err(|e| AwsError {
                    step: step.clone(),
                    class: ErrorClass::Fatal,
                    code: None,
                    detail: e.to_string(),
                    hint: None,
                })?;
            request = request.tags(tag);
        }
        request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&step, &e))?;
        Ok(())
    }

    pub(crate) async fn put_role_policy(
        &self,
        role: &str,
        policy: &str,
        document: &str,
    ) -> Result<(), AwsError> {
        self.clients
            .iam
            .put_role_policy()
            .role_name(role)
            .policy_name(policy)
            .policy_document(document)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("set the policy of {role}"), &e))?;
        Ok(())
    }

    /// Sets (or replaces) the role's permissions boundary.
    // https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePermissionsBoundary.html
    pub(crate) async fn put_role_permissions_boundary(
        &self,
        role: &str,
        boundary: &str,
    ) -> Result<(), AwsError> {
        self.clients
            .iam
            .put_role_permissions_boundary()
            .role_name(role)
            .permissions_boundary(boundary)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("set the permissions boundary of {role}"), &e)
            })?;
        Ok(())
    }

    pub(crate) async fn update_trust_policy(
        &self,
        role: &str,
        document: &str,
    ) -> Result<(), AwsError> {
        self.clients
            .iam
            .update_assume_role_policy()
            .role_name(role)
            .policy_document(document)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("set the trust policy of {role}"), &e))?;
        Ok(())
    }

    pub(crate) async fn delete_role_policy(
        &self,
        role: &str,
        policy: &str,
    ) -> Result<(), AwsError> {
        self.clients
            .iam
            .delete_role_policy()
            .role_name(role)
            .policy_name(policy)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("delete the policy of {role}"), &e))?;
        Ok(())
    }

    pub(crate) async fn delete_role(&self, role: &str) -> Result<(), AwsError> {
        self.clients
            .iam
            .delete_role()
            .role_name(role)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("delete IAM role {role}"), &e))?;
        Ok(())
    }
}
