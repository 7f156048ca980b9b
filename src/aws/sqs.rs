//! SQS: looking up a queue a handler reads from or sends failures to.
//! slx never creates, changes or deletes queues: they hold users' data.
//!
//! API reference: <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_Operations.html>

use aws_sdk_sqs::types::QueueAttributeName;

use super::{AwsError, Reader, absent};

/// What slx needs to know about a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueInfo {
    pub(crate) arn: String,
    /// Seconds a received message stays invisible to other consumers.
    pub(crate) visibility_timeout: u32,
}

impl Reader {
    /// The queue `name` (of `account`, else the caller's), if it exists.
    pub(crate) async fn queue(
        &self,
        name: &str,
        account: Option<&str>,
    ) -> Result<Option<QueueInfo>, AwsError> {
        let step = format!("look up SQS queue {name}");
        let url = absent(
            self.clients
                .sqs
                .get_queue_url()
                .queue_name(name)
                .set_queue_owner_aws_account_id(account.map(str::to_string))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(&step, &e)),
        )?;
        let Some(url) = url.and_then(|u| u.queue_url) else {
            return Ok(None);
        };
        let answer = self
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&step, &e))?;
        let attributes = answer.attributes().cloned().unwrap_or_default();
        let arn = attributes
            .get(&QueueAttributeName::QueueArn)
            .cloned()
            .unwrap_or_default();
        let visibility_timeout = attributes
            .get(&QueueAttributeName::VisibilityTimeout)
            .and_then(|v| v.parse().ok())
            // SQS's documented default.
            .unwrap_or(30);
        Ok(Some(QueueInfo {
            arn,
            visibility_timeout,
        }))
    }
}
