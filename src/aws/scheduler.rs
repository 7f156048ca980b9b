//! EventBridge Scheduler: the stage's schedule group (tagged, since
//! schedules themselves take no tags) and its schedules.
//!
//! API reference: <https://docs.aws.amazon.com/scheduler/latest/APIReference/API_Operations.html>

use std::collections::HashMap;

use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, Tag, Target};

use super::{AwsError, Reader, Tags, Writer, absent};

/// A schedule as slx writes and compares it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct ScheduleSpec {
    pub(crate) name: String,
    pub(crate) expression: String,
    pub(crate) timezone: Option<String>,
    /// The function alias it invokes.
    pub(crate) target_arn: String,
    /// The role Scheduler assumes to invoke it.
    pub(crate) role_arn: String,
    /// The payload, as sent (JSON text with Scheduler's placeholders).
    pub(crate) input: String,
}

/// A schedule group as Scheduler holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GroupInfo {
    /// With its tags.
    Active(HashMap<String, String>),
    /// Being deleted: gone once its schedules are.
    Deleting,
}

impl Reader {
    /// The tags of the schedule group `name`, or `None` if it is absent.
    /// The schedule group `name` with its tags, if it exists; a group
    /// being deleted (`State: DELETING`, until its schedules are gone) is
    /// said so, without its tags.
    /// <https://docs.aws.amazon.com/scheduler/latest/APIReference/API_DeleteScheduleGroup.html>
    pub(crate) async fn schedule_group(&self, name: &str) -> Result<Option<GroupInfo>, AwsError> {
        let step = format!("read schedule group {name}");
        let group = absent(
            self.clients
                .scheduler
                .get_schedule_group()
                .name(name)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(&step, &e)),
        )?;
        let Some(group) = group else {
            return Ok(None);
        };
        if group.state().map(|s| s.as_str()) == Some("DELETING") {
            return Ok(Some(GroupInfo::Deleting));
        }
        let Some(arn) = group.arn else {
            return Ok(None);
        };
        let tags = self
            .clients
            .scheduler
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&step, &e))?;
        Ok(Some(GroupInfo::Active(
            tags.tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
        )))
    }

    /// Every schedule of `group`, as written.
    pub(crate) async fn schedules(&self, group: &str) -> Result<Vec<ScheduleSpec>, AwsError> {
        let step = format!("read the schedules of group {group}");
        let mut names = Vec::new();
        let mut pages = self
            .clients
            .scheduler
            .list_schedules()
            .group_name(group)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(&step, &e))?;
            names.extend(
                page.schedules()
                    .iter()
                    .filter_map(|s| s.name().map(str::to_string)),
            );
        }
        let step = &step;
        let reads = names.iter().map(|name| async move {
            let answer = self
                .clients
                .scheduler
                .get_schedule()
                .group_name(group)
                .name(name)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(step.as_str(), &e))?;
            let target = answer.target();
            Ok::<_, AwsError>(ScheduleSpec {
                name: name.clone(),
                expression: answer.schedule_expression().unwrap_or_default().into(),
                timezone: answer.schedule_expression_timezone().map(str::to_string),
                target_arn: target.map(|t| t.arn().to_string()).unwrap_or_default(),
                role_arn: target.map(|t| t.role_arn().to_string()).unwrap_or_default(),
                input: target
                    .and_then(|t| t.input())
                    .unwrap_or_default()
                    .to_string(),
            })
        });
        futures_util::future::try_join_all(reads).await
    }
}

impl Writer {
    pub(crate) async fn create_schedule_group(
        &self,
        name: &str,
        tags: &Tags,
    ) -> Result<(), AwsError> {
        let tags: Vec<Tag> = tags
            .0
            .iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect();
        self.clients
            .scheduler
            .create_schedule_group()
            .name(name)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("create schedule group {name}"), &e))?;
        Ok(())
    }

    /// Deletes the group with every schedule in it.
    pub(crate) async fn delete_schedule_group(&self, name: &str) -> Result<(), AwsError> {
        self.clients
            .scheduler
            .delete_schedule_group()
            .name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("delete schedule group {name}"), &e))?;
        Ok(())
    }

    /// Creates (`exists` false) or replaces the schedule in `group`.
    pub(crate) async fn put_schedule(
        &self,
        group: &str,
        spec: &ScheduleSpec,
        exists: bool,
    ) -> Result<(), AwsError> {
        let step = format!("write schedule {}", spec.name);
        let target = Target::builder()
            .arn(&spec.target_arn)
            .role_arn(&spec.role_arn)
            .input(&spec.input)
            .build()
            .map_err(|e| AwsError::fatal(&step, e.to_string(), "report this as a bug in slx"))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| AwsError::fatal(&step, e.to_string(), "report this as a bug in slx"))?;
        let scheduler = &self.clients.scheduler;
        if exists {
            scheduler
                .update_schedule()
                .group_name(group)
                .name(&spec.name)
                .schedule_expression(&spec.expression)
                .set_schedule_expression_timezone(spec.timezone.clone())
                .target(target)
                .flexible_time_window(window)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(&step, &e))?;
        } else {
            scheduler
                .create_schedule()
                .group_name(group)
                .name(&spec.name)
                .schedule_expression(&spec.expression)
                .set_schedule_expression_timezone(spec.timezone.clone())
                .target(target)
                .flexible_time_window(window)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(&step, &e))?;
        }
        Ok(())
    }

    pub(crate) async fn delete_schedule(&self, group: &str, name: &str) -> Result<(), AwsError> {
        self.clients
            .scheduler
            .delete_schedule()
            .group_name(group)
            .name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("delete schedule {name}"), &e))?;
        Ok(())
    }
}
