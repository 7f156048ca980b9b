//! STS: who the credentials belong to.
//!
//! API reference: <https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html>

use super::{AwsError, Reader};

/// The caller's account and ARN (whose partition is the second field:
/// `arn:aws-cn:iam::...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) account: String,
    pub(crate) arn: String,
}

impl Reader {
    pub(crate) async fn caller_identity(&self) -> Result<Identity, AwsError> {
        let identity = self
            .clients
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk("identify the AWS account (sts:GetCallerIdentity)", &e)
            })?;
        Ok(Identity {
            account: identity.account().unwrap_or_default().to_string(),
            arn: identity.arn().unwrap_or_default().to_string(),
        })
    }
}
