//! CloudWatch metrics: what Lambda records per version of a function
//! invoked through an alias (the canary's evidence). Reads only.
//!
//! API reference: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html>

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};

use super::{AwsError, Reader};

/// Lambda's per-version metrics of an alias carry these dimensions.
// https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html#monitoring-metrics-dimensions
fn version_dimensions(function: &str, alias: &str, version: &str) -> Vec<Dimension> {
    [
        ("FunctionName", function.to_string()),
        ("Resource", format!("{function}:{alias}")),
        ("ExecutedVersion", version.to_string()),
    ]
    .into_iter()
    .map(|(name, value)| Dimension::builder().name(name).value(value).build())
    .collect()
}

impl Reader {
    /// The sum of `metric` (`Errors`, `Throttles`, `Invocations`) for
    /// `version` run through `alias`, from `since` to now, in one-minute
    /// periods: `(minute start, sum)`, oldest first.
    pub(crate) async fn version_metric(
        &self,
        function: &str,
        alias: &str,
        version: &str,
        metric: &str,
        since: SystemTime,
    ) -> Result<Vec<(SystemTime, f64)>, AwsError> {
        // A minute either side: CloudWatch aligns periods to the minute.
        let start = since - Duration::from_secs(60);
        let end = SystemTime::now() + Duration::from_secs(60);
        let answer = self
            .clients
            .metrics
            .get_metric_statistics()
            .namespace("AWS/Lambda")
            .metric_name(metric)
            .set_dimensions(Some(version_dimensions(function, alias, version)))
            .start_time(DateTime::from(start))
            .end_time(DateTime::from(end))
            .period(60)
            .statistics(Statistic::Sum)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("read {metric} of {function} version {version}"), &e)
            })?;
        let mut points: Vec<(SystemTime, f64)> = answer
            .datapoints()
            .iter()
            .filter_map(|point| {
                let at = SystemTime::try_from(*point.timestamp()?).ok()?;
                Some((at, point.sum()?))
            })
            .collect();
        points.sort_by_key(|(at, _)| *at);
        Ok(points)
    }
}
