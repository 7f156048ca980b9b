//! CloudWatch Logs: the stage's log group, its events, Live Tail.
//!
//! API reference: <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_Operations.html>

use aws_sdk_cloudwatchlogs::operation::start_live_tail::StartLiveTailOutput;
use aws_sdk_cloudwatchlogs::types::StartLiveTailResponseStream;

use super::{AwsError, Reader, Tags, Writer, absent};

/// A log group as `DescribeLogGroups` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogGroupInfo {
    pub(crate) retention_days: Option<u32>,
    /// The ARN without the `:*` suffix (what Live Tail wants).
    pub(crate) arn: Option<String>,
}

/// A log group listed by name prefix, with its creation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedLogGroup {
    pub(crate) name: String,
    /// Milliseconds since the epoch, by CloudWatch's clock.
    pub(crate) created_ms: i64,
    /// The ARN without the `:*` suffix (what tagging wants).
    pub(crate) arn: String,
}

/// One log event. `id` is CloudWatch's event id when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogEvent {
    pub(crate) id: Option<String>,
    pub(crate) timestamp_ms: i64,
    pub(crate) stream: String,
    pub(crate) message: String,
}

/// Which events to fetch.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogQuery {
    pub(crate) log_group: String,
    pub(crate) start_ms: i64,
    /// A CloudWatch filter pattern, sent as it is.
    pub(crate) pattern: Option<String>,
}

/// A Live Tail session: events pushed as they are ingested.
pub(crate) struct LiveTail {
    output: StartLiveTailOutput,
}

impl Reader {
    /// The log group called exactly `name`, if it exists.
    pub(crate) async fn log_group(&self, name: &str) -> Result<Option<LogGroupInfo>, AwsError> {
        let groups = self
            .clients
            .logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("read log group {name}"), &e))?;
        Ok(groups
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name))
            .map(|g| LogGroupInfo {
                retention_days: g.retention_in_days().map(|d| d as u32),
                arn: g
                    .log_group_arn()
                    .map(str::to_string)
                    .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string())),
            }))
    }

    /// Every log group whose name starts with `prefix`, every page.
    pub(crate) async fn log_groups_under(
        &self,
        prefix: &str,
    ) -> Result<Vec<ListedLogGroup>, AwsError> {
        let mut listed = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .clients
                .logs
                .describe_log_groups()
                .log_group_name_prefix(prefix)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("list log groups under {prefix}"), &e))?;
            listed.extend(page.log_groups().iter().filter_map(|g| {
                Some(ListedLogGroup {
                    name: g.log_group_name()?.to_string(),
                    created_ms: g.creation_time().unwrap_or_default(),
                    arn: g
                        .log_group_arn()
                        .map(str::to_string)
                        .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()))?,
                })
            }));
            match page.next_token() {
                Some(next) if Some(next) != token.as_deref() => token = Some(next.to_string()),
                _ => return Ok(listed),
            }
        }
    }

    /// The tags of a log group, by its ARN (without `:*`).
    pub(crate) async fn log_group_tags(
        &self,
        arn: &str,
    ) -> Result<std::collections::HashMap<String, String>, AwsError> {
        let answer = self
            .clients
            .logs
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("read the tags of log group {arn}"), &e))?;
        Ok(answer.tags().cloned().unwrap_or_default())
    }

    /// Every event matching `query`, in CloudWatch's order; `None` when
    /// the log group does not exist yet.
    pub(crate) async fn log_events(
        &self,
        query: &LogQuery,
    ) -> Result<Option<Vec<LogEvent>>, AwsError> {
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = absent(
                self.clients
                    .logs
                    .filter_log_events()
                    .log_group_name(&query.log_group)
                    .start_time(query.start_ms)
                    .set_filter_pattern(query.pattern.clone())
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        AwsError::from_sdk(format!("read logs of {}", query.log_group), &e)
                    }),
            )?;
            let Some(page) = page else {
                return Ok(None);
            };
            events.extend(page.events().iter().map(|event| LogEvent {
                id: event.event_id().map(str::to_string),
                timestamp_ms: event.timestamp().unwrap_or_default(),
                stream: event.log_stream_name().unwrap_or_default().to_string(),
                message: event.message().unwrap_or_default().to_string(),
            }));
            match page.next_token() {
                Some(next) if Some(next) != token.as_deref() => token = Some(next.to_string()),
                _ => return Ok(Some(events)),
            }
        }
    }

    /// Starts a Live Tail session on one log group (by ARN).
    pub(crate) async fn live_tail(
        &self,
        arn: &str,
        pattern: Option<&str>,
    ) -> Result<LiveTail, AwsError> {
        let output = self
            .clients
            .logs
            .start_live_tail()
            .log_group_identifiers(arn)
            .set_log_event_filter_pattern(pattern.map(str::to_string))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("start a Live Tail session", &e))?;
        Ok(LiveTail { output })
    }
}

impl LiveTail {
    /// The next batch of events, and whether CloudWatch sampled them
    /// (it does above 500 events a second); `None` when the session ended.
    // https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_LiveTailSessionMetadata.html
    pub(crate) async fn next(&mut self) -> Result<Option<(Vec<LogEvent>, bool)>, AwsError> {
        loop {
            let message = self
                .output
                .response_stream
                .recv()
                .await
                .map_err(|e| AwsError::from_sdk("read the Live Tail session", &e))?;
            match message {
                None => return Ok(None),
                Some(StartLiveTailResponseStream::SessionUpdate(update)) => {
                    let sampled = update.session_metadata().is_some_and(|m| m.sampled());
                    return Ok(Some((
                        update
                            .session_results()
                            .iter()
                            .map(|event| LogEvent {
                                id: None,
                                timestamp_ms: event.timestamp().unwrap_or_default(),
                                stream: event.log_stream_name().unwrap_or_default().to_string(),
                                message: event.message().unwrap_or_default().to_string(),
                            })
                            .collect(),
                        sampled,
                    )));
                }
                Some(_) => continue,
            }
        }
    }
}

impl Writer {
    pub(crate) async fn create_log_group(&self, name: &str, tags: &Tags) -> Result<(), AwsError> {
        self.clients
            .logs
            .create_log_group()
            .log_group_name(name)
            .set_tags(Some(tags.map()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("create log group {name}"), &e))?;
        Ok(())
    }

    pub(crate) async fn set_retention(&self, name: &str, days: u32) -> Result<(), AwsError> {
        self.clients
            .logs
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(days as i32)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("set the retention of {name}"), &e))?;
        Ok(())
    }

    pub(crate) async fn delete_log_group(&self, name: &str) -> Result<(), AwsError> {
        self.clients
            .logs
            .delete_log_group()
            .log_group_name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("delete log group {name}"), &e))?;
        Ok(())
    }
}
