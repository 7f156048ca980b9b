//! Validates `[events.NAME]` and each stage's `[stages.S.events.NAME]`
//! into `EventHandler`s: every value on its own first (with the line),
//! then each table as a whole (one trigger, keys that fit its kind, the
//! rules AWS enforces between values), then each stage's version of
//! every handler, so a stage's override is as checked as the app's.
//!
//! Pure: no I/O. Whether a bucket or queue exists is deploy's question.

use std::ops::Range;

use toml::Spanned;

use super::keys::closest;
use super::limits;
use super::model::{EventHandler, EventSource, S3EventKind, S3Source, ScheduleSource, SqsSource};
use super::schema::{RawEvent, RawEvents};
use super::validate::Checker;

/// A value and where it stands.
type At<T> = (T, Range<usize>);

/// Lambda's defaults and bounds for an SQS event source mapping.
// https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html
const BATCH_SIZE_DEFAULT: u32 = 10;
const BATCH_SIZE: (u32, u32) = (1, 10_000);
const BATCH_SIZE_FIFO_MAX: u32 = 10;
const BATCH_WINDOW_S: (u32, u32) = (0, 300);
/// A key prefix or suffix of an S3 notification filter rule.
const FILTER_MAX: usize = 1024;

const SCHEDULE_KEYS: &[&str] = &["schedule", "timezone", "input"];
const S3_KEYS: &[&str] = &["bucket", "events", "prefix", "suffix"];
const SQS_KEYS: &[&str] = &["queue", "batch_size", "batch_window", "report_failures"];

/// One table's values, each checked on its own.
#[derive(Debug, Default, Clone)]
struct Fields {
    handler: Option<At<String>>,
    schedule: Option<At<String>>,
    timezone: Option<At<String>>,
    input: Option<At<serde_json::Value>>,
    bucket: Option<At<String>>,
    events: Option<At<Vec<S3EventKind>>>,
    prefix: Option<At<String>>,
    suffix: Option<At<String>>,
    queue: Option<At<String>>,
    batch_size: Option<At<u32>>,
    batch_window: Option<At<u32>>,
    report_failures: Option<At<bool>>,
    memory: Option<At<u32>>,
    timeout: Option<At<u32>>,
    on_failure: Option<At<String>>,
}

impl Fields {
    /// The keys set, with their spans, for the kind checks.
    fn present(&self) -> Vec<(&'static str, Range<usize>)> {
        let span = |value: Option<Range<usize>>, key| value.map(|span| (key, span));
        [
            span(self.schedule.as_ref().map(|v| v.1.clone()), "schedule"),
            span(self.timezone.as_ref().map(|v| v.1.clone()), "timezone"),
            span(self.input.as_ref().map(|v| v.1.clone()), "input"),
            span(self.bucket.as_ref().map(|v| v.1.clone()), "bucket"),
            span(self.events.as_ref().map(|v| v.1.clone()), "events"),
            span(self.prefix.as_ref().map(|v| v.1.clone()), "prefix"),
            span(self.suffix.as_ref().map(|v| v.1.clone()), "suffix"),
            span(self.queue.as_ref().map(|v| v.1.clone()), "queue"),
            span(self.batch_size.as_ref().map(|v| v.1.clone()), "batch_size"),
            span(
                self.batch_window.as_ref().map(|v| v.1.clone()),
                "batch_window",
            ),
            span(
                self.report_failures.as_ref().map(|v| v.1.clone()),
                "report_failures",
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// `self` with every value `top` sets replaced.
    fn overlaid(&self, top: &Fields) -> Fields {
        fn pick<T: Clone>(top: &Option<T>, base: &Option<T>) -> Option<T> {
            top.clone().or_else(|| base.clone())
        }
        Fields {
            handler: pick(&top.handler, &self.handler),
            schedule: pick(&top.schedule, &self.schedule),
            timezone: pick(&top.timezone, &self.timezone),
            input: pick(&top.input, &self.input),
            bucket: pick(&top.bucket, &self.bucket),
            events: pick(&top.events, &self.events),
            prefix: pick(&top.prefix, &self.prefix),
            suffix: pick(&top.suffix, &self.suffix),
            queue: pick(&top.queue, &self.queue),
            batch_size: pick(&top.batch_size, &self.batch_size),
            batch_window: pick(&top.batch_window, &self.batch_window),
            report_failures: pick(&top.report_failures, &self.report_failures),
            memory: pick(&top.memory, &self.memory),
            timeout: pick(&top.timeout, &self.timeout),
            on_failure: pick(&top.on_failure, &self.on_failure),
        }
    }
}

/// What validation keeps of `[events]` until every stage is checked.
pub(crate) struct AppEvents {
    declared: Vec<(String, Range<usize>, Fields)>,
    pub(crate) handlers: Vec<EventHandler>,
}

/// `[events.NAME]` of the app.
pub(crate) fn app_events(check: &mut Checker, raw: &RawEvents) -> AppEvents {
    let mut declared = Vec::new();
    let mut handlers = Vec::new();
    for (name, table) in raw {
        let where_ = format!("events.{}", name.get_ref());
        let errors_before = check.errors.len();
        check_name(check, name, table.get_ref().handler.is_some());
        let fields = fields(check, table.get_ref(), &where_);
        let span = name.span().start..table.span().end;
        if check.errors.len() == errors_before
            && let Some(handler) = build(check, name.get_ref(), &fields, span.clone(), &where_)
        {
            handlers.push(handler);
        }
        declared.push((name.get_ref().clone(), span, fields));
    }
    AppEvents { declared, handlers }
}

/// The app's handlers as stage `stage` has them, when its table changes
/// any; each changed handler is checked again as a whole.
pub(crate) fn stage_events(
    check: &mut Checker,
    app: &AppEvents,
    raw: Option<&RawEvents>,
    stage: &str,
) -> Option<Vec<EventHandler>> {
    let raw = raw?;
    let mut changed = Vec::new();
    for (name, table) in raw {
        let where_ = format!("stages.{stage}.events.{}", name.get_ref());
        let errors_before = check.errors.len();
        let top = fields(check, table.get_ref(), &where_);
        let Some((_, span, base)) = app.declared.iter().find(|(n, ..)| n == name.get_ref()) else {
            let names: Vec<&str> = app.declared.iter().map(|(n, ..)| n.as_str()).collect();
            let help = match closest(name.get_ref(), &names) {
                Some(best) => format!("did you mean `{best}`?"),
                None if names.is_empty() => {
                    format!(
                        "declare `[events.{}]` first; a stage only changes the app's handlers",
                        name.get_ref()
                    )
                }
                None => format!("the app's event handlers: {}", names.join(", ")),
            };
            check.error(
                name.span(),
                &where_,
                format!(
                    "stage `{stage}` changes `{}`, which [events] does not declare",
                    name.get_ref()
                ),
                &help,
            );
            continue;
        };
        if check.errors.len() > errors_before {
            continue;
        }
        if let Some(kind) = trigger_key(base) {
            for (key, key_span) in top.present() {
                if trigger_keys(kind).contains(&key) {
                    continue;
                }
                check.error(
                    key_span,
                    &format!("{where_}.{key}"),
                    format!(
                        "`{key}` does not apply to `{}`, which runs on {}",
                        name.get_ref(),
                        kind_phrase(kind)
                    ),
                    &format!(
                        "a stage may change {} of it (and memory, timeout, on_failure)",
                        trigger_keys(kind).join(", ")
                    ),
                );
            }
        }
        if check.errors.len() > errors_before {
            continue;
        }
        let merged = base.overlaid(&top);
        if let Some(handler) = build(check, name.get_ref(), &merged, span.clone(), &where_) {
            changed.push(handler);
        }
    }
    Some(
        app.handlers
            .iter()
            .map(|handler| {
                changed
                    .iter()
                    .find(|c| c.name == handler.name)
                    .unwrap_or(handler)
                    .clone()
            })
            .collect(),
    )
}

/// The name of an `[events.NAME]` table becomes part of a function name
/// and, without `handler`, names the function of lib.rs.
fn check_name(check: &mut Checker, name: &Spanned<String>, has_handler: bool) {
    let text = name.get_ref();
    let key = format!("events.{text}");
    if !has_handler && !limits::is_rust_identifier(text) {
        check.error(
            name.span(),
            &key,
            format!("`{text}` is not a Rust function name"),
            "name the table after the handler function of lib.rs (e.g. `[events.on_upload]`), or add `handler = \"...\"`",
        );
    } else if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        check.error(
            name.span(),
            &key,
            format!("`{text}` cannot be part of a Lambda function name"),
            "use letters, digits, `_` and `-`",
        );
    }
}

fn fields(check: &mut Checker, raw: &RawEvent, table: &str) -> Fields {
    let key = |name: &str| format!("{table}.{name}");
    let string = |value: &Option<Spanned<String>>| {
        value
            .as_ref()
            .map(|v| (v.get_ref().trim().to_string(), v.span()))
    };
    let handler = string(&raw.handler).filter(|(name, span)| {
        let ok = limits::is_rust_identifier(name);
        if !ok {
            check.error(
                span.clone(),
                &key("handler"),
                format!("handler `{name}` is not a Rust function name"),
                "name a `pub async fn` of your crate's lib.rs, e.g. `on_upload`",
            );
        }
        ok
    });
    let schedule = string(&raw.schedule).filter(|(expression, span)| {
        let problem = super::schedule::problem(expression);
        if let Some(problem) = &problem {
            check.error(
                span.clone(),
                &key("schedule"),
                problem.clone(),
                "EventBridge Scheduler expressions: `rate(1 hour)`, `cron(0 3 * * ? *)` (minutes hours day-of-month month day-of-week year), `at(2026-12-01T09:00:00)`",
            );
        }
        problem.is_none()
    });
    let timezone = string(&raw.timezone).filter(|(zone, span)| {
        let known = jiff::tz::db().get(zone).is_ok();
        if !known {
            let names: Vec<String> = jiff::tz::db().available().map(|n| n.to_string()).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let help = match closest(zone, &names) {
                Some(best) => format!("did you mean `{best}`?"),
                None => {
                    "use an IANA time zone name, e.g. `Europe/Paris` or `America/New_York`".into()
                }
            };
            check.error(
                span.clone(),
                &key("timezone"),
                format!("`{zone}` is not an IANA time zone"),
                &help,
            );
        }
        known
    });
    let input = raw
        .input
        .as_ref()
        .map(|value| (json_of(value.get_ref()), value.span()));
    let bucket = string(&raw.bucket).filter(|(bucket, span)| {
        let problem = limits::bucket_name_problem(bucket);
        if let Some(problem) = problem {
            let help = match bucket.strip_prefix("arn:aws:s3:::") {
                Some(name) => format!("write the bucket's name: `bucket = \"{name}\"`"),
                None => "name an existing bucket, e.g. `shop-uploads`".into(),
            };
            check.error(
                span.clone(),
                &key("bucket"),
                format!("`{bucket}` is not a bucket name: {problem}"),
                &help,
            );
        }
        problem.is_none()
    });
    let events = raw.events.as_ref().and_then(|list| {
        let mut kinds = Vec::new();
        for item in list.get_ref() {
            match S3EventKind::parse(item.get_ref()) {
                Some(kind) if !kinds.contains(&kind) => kinds.push(kind),
                Some(_) => check.error(
                    item.span(),
                    &key("events"),
                    format!("`{}` is listed twice", item.get_ref()),
                    "list each kind once",
                ),
                None => {
                    let help = match closest(item.get_ref(), &S3EventKind::ALL) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => format!("S3 handlers take {}", S3EventKind::ALL.join(", ")),
                    };
                    check.error(
                        item.span(),
                        &key("events"),
                        format!("`{}` is not an object event kind", item.get_ref()),
                        &help,
                    );
                }
            }
        }
        if list.get_ref().is_empty() {
            check.error(
                list.span(),
                &key("events"),
                "`events` is empty: the handler would never run".into(),
                "list `created`, `removed` or both (without `events`: created)",
            );
        }
        kinds.sort();
        (kinds.len() == list.get_ref().len() && !kinds.is_empty()).then(|| (kinds, list.span()))
    });
    let filter = |check: &mut Checker, value: &Option<Spanned<String>>, name: &str| {
        let (text, span) = value.as_ref().map(|v| (v.get_ref().clone(), v.span()))?;
        if text.is_empty() || text.len() > FILTER_MAX {
            check.error(
                span,
                &key(name),
                format!("`{name}` must be 1 to {FILTER_MAX} characters"),
                &format!("remove `{name}` to match every key"),
            );
            return None;
        }
        Some((text, span))
    };
    let prefix = filter(check, &raw.prefix, "prefix");
    let suffix = filter(check, &raw.suffix, "suffix");
    let queue = |check: &mut Checker, value: &Option<Spanned<String>>, name: &str| {
        string(value).filter(|(queue, span)| {
            let problem = limits::queue_problem(queue);
            if let Some(problem) = &problem {
                check.error(
                    span.clone(),
                    &key(name),
                    problem.clone(),
                    "name an existing queue of the stage's region, or give its ARN",
                );
            }
            problem.is_none()
        })
    };
    let on_failure = queue(check, &raw.on_failure, "on_failure");
    let queue = queue(check, &raw.queue, "queue");
    let number = |check: &mut Checker, value: &Option<Spanned<i64>>, name: &str, range, unit| {
        let value = value.as_ref()?;
        let (low, high) = range;
        match u32::try_from(*value.get_ref()) {
            Ok(n) if (low..=high).contains(&n) => Some((n, value.span())),
            _ => {
                check.error(
                    value.span(),
                    &key(name),
                    format!("`{name}` = {} is out of range", value.get_ref()),
                    &format!("use a value from {low} to {high} {unit}"),
                );
                None
            }
        }
    };
    Fields {
        handler,
        schedule,
        timezone,
        input,
        bucket,
        events,
        prefix,
        suffix,
        queue,
        batch_size: number(check, &raw.batch_size, "batch_size", BATCH_SIZE, "messages"),
        batch_window: number(
            check,
            &raw.batch_window,
            "batch_window",
            BATCH_WINDOW_S,
            "seconds",
        ),
        report_failures: raw
            .report_failures
            .as_ref()
            .map(|v| (*v.get_ref(), v.span())),
        memory: number(check, &raw.memory, "memory", limits::MEMORY_MB, "MB"),
        timeout: number(check, &raw.timeout, "timeout", limits::TIMEOUT_S, "seconds"),
        on_failure,
    }
}

/// TOML to the JSON the handler receives: tables and arrays as they are,
/// a date-time as its RFC 3339 text.
fn json_of(value: &toml::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        toml::Value::String(s) => Json::String(s.clone()),
        toml::Value::Integer(i) => Json::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        toml::Value::Boolean(b) => Json::Bool(*b),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(items) => Json::Array(items.iter().map(json_of).collect()),
        toml::Value::Table(table) => {
            Json::Object(table.iter().map(|(k, v)| (k.clone(), json_of(v))).collect())
        }
    }
}

/// Which trigger key a table sets, if exactly one is known.
fn trigger_key(fields: &Fields) -> Option<&'static str> {
    if fields.schedule.is_some() {
        Some("schedule")
    } else if fields.bucket.is_some() {
        Some("bucket")
    } else if fields.queue.is_some() {
        Some("queue")
    } else {
        None
    }
}

fn trigger_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "schedule" => SCHEDULE_KEYS,
        "bucket" => S3_KEYS,
        _ => SQS_KEYS,
    }
}

fn kind_phrase(kind: &str) -> &'static str {
    match kind {
        "schedule" => "a schedule (`schedule`)",
        "bucket" => "S3 object events (`bucket`)",
        _ => "SQS messages (`queue`)",
    }
}

/// One table (or a stage's merge) as a whole: one trigger, keys of its
/// kind, AWS's rules between values.
fn build(
    check: &mut Checker,
    name: &str,
    fields: &Fields,
    span: Range<usize>,
    table: &str,
) -> Option<EventHandler> {
    let triggers: Vec<(&str, Range<usize>)> = [
        fields.schedule.as_ref().map(|v| ("schedule", v.1.clone())),
        fields.bucket.as_ref().map(|v| ("bucket", v.1.clone())),
        fields.queue.as_ref().map(|v| ("queue", v.1.clone())),
    ]
    .into_iter()
    .flatten()
    .collect();
    let kind = match triggers.as_slice() {
        [] => {
            check.error(
                span,
                table,
                format!("`{name}` has no trigger"),
                "add one of `schedule = \"rate(1 hour)\"`, `bucket = \"my-bucket\"` or `queue = \"my-queue\"`",
            );
            return None;
        }
        [(kind, _)] => *kind,
        [(first, _), (second, second_span), ..] => {
            check.error(
                second_span.clone(),
                &format!("{table}.{second}"),
                format!("`{name}` has two triggers, `{first}` and `{second}`"),
                "one handler has one trigger; declare another [events.NAME] table (with `handler = \"...\"` to run the same function)",
            );
            return None;
        }
    };
    let errors_before = check.errors.len();
    for (key, key_span) in fields.present() {
        if !trigger_keys(kind).contains(&key) {
            check.error(
                key_span,
                &format!("{table}.{key}"),
                format!(
                    "`{key}` does not apply to `{name}`, which runs on {}",
                    kind_phrase(kind)
                ),
                &format!(
                    "`{key}` belongs to handlers that run on {}",
                    kind_phrase(owner_of(key))
                ),
            );
        }
    }
    let source = match kind {
        "schedule" => EventSource::Schedule(ScheduleSource {
            expression: fields.schedule.clone()?.0,
            timezone: fields.timezone.as_ref().map(|v| v.0.clone()),
            input: fields.input.as_ref().map(|v| v.0.clone()),
        }),
        "bucket" => EventSource::S3(S3Source {
            bucket: fields.bucket.clone()?.0,
            events: fields
                .events
                .as_ref()
                .map_or_else(|| vec![S3EventKind::Created], |v| v.0.clone()),
            prefix: fields.prefix.as_ref().map(|v| v.0.clone()),
            suffix: fields.suffix.as_ref().map(|v| v.0.clone()),
        }),
        _ => {
            let source = SqsSource {
                queue: fields.queue.clone()?.0,
                batch_size: fields
                    .batch_size
                    .as_ref()
                    .map_or(BATCH_SIZE_DEFAULT, |v| v.0),
                batch_window: fields.batch_window.as_ref().map_or(0, |v| v.0),
                report_failures: fields.report_failures.as_ref().is_none_or(|v| v.0),
            };
            check_batching(check, &source, fields, table);
            if let Some((_, on_failure_span)) = &fields.on_failure {
                check.error(
                    on_failure_span.clone(),
                    &format!("{table}.on_failure"),
                    format!("`on_failure` does not apply to `{name}`: Lambda polls its queue, it is not invoked asynchronously"),
                    "give the queue a redrive policy (a dead-letter queue) instead; `on_failure` is for schedule and S3 handlers",
                );
            }
            EventSource::Sqs(source)
        }
    };
    if check.errors.len() > errors_before {
        return None;
    }
    Some(EventHandler {
        name: name.to_string(),
        handler: fields
            .handler
            .as_ref()
            .map_or_else(|| name.to_string(), |v| v.0.clone()),
        source,
        memory: fields.memory.as_ref().map(|v| v.0),
        timeout: fields.timeout.as_ref().map(|v| v.0),
        on_failure: fields.on_failure.as_ref().map(|v| v.0.clone()),
        span,
    })
}

/// The trigger key a kind-specific key belongs with.
fn owner_of(key: &str) -> &'static str {
    if SCHEDULE_KEYS.contains(&key) {
        "schedule"
    } else if S3_KEYS.contains(&key) {
        "bucket"
    } else {
        "queue"
    }
}

/// Lambda's rules between batch size, batching window and FIFO queues.
// https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html
fn check_batching(check: &mut Checker, source: &SqsSource, fields: &Fields, table: &str) {
    let size_span = fields.batch_size.as_ref().map(|v| v.1.clone());
    let window_span = fields.batch_window.as_ref().map(|v| v.1.clone());
    if source.is_fifo() {
        if source.batch_size > BATCH_SIZE_FIFO_MAX {
            check.error(
                size_span.unwrap_or_default(),
                &format!("{table}.batch_size"),
                format!(
                    "a FIFO queue's batch is at most {BATCH_SIZE_FIFO_MAX} messages, not {}",
                    source.batch_size
                ),
                &format!("use `batch_size = {BATCH_SIZE_FIFO_MAX}` or less"),
            );
        }
        if source.batch_window > 0 {
            check.error(
                window_span.unwrap_or_default(),
                &format!("{table}.batch_window"),
                "Lambda has no batching window for FIFO queues".into(),
                "remove `batch_window`",
            );
        }
    } else if source.batch_size > BATCH_SIZE_FIFO_MAX && source.batch_window == 0 {
        check.error(
            size_span.unwrap_or_default(),
            &format!("{table}.batch_size"),
            format!("a batch of {} messages needs a batching window", source.batch_size),
            "Lambda requires `batch_window` of at least 1 second above 10 messages: add e.g. `batch_window = 5`",
        );
    }
}

/// S3 refuses two notification rules of one bucket that share an event
/// kind and could both match a key ("overlapping prefixes or suffixes").
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-filtering.html
pub(crate) fn check_overlaps(check: &mut Checker, handlers: &[EventHandler], table: &str) {
    let s3: Vec<(&EventHandler, &S3Source)> = handlers
        .iter()
        .filter_map(|h| match &h.source {
            EventSource::S3(source) => Some((h, source)),
            _ => None,
        })
        .collect();
    for (index, (handler, source)) in s3.iter().enumerate() {
        let Some((other, _)) = s3[..index]
            .iter()
            .find(|(_, earlier)| rules_overlap(earlier, source))
        else {
            continue;
        };
        check.error(
            handler.span.clone(),
            &format!("{table}.{}", handler.name),
            format!(
                "`{}` and `{}` both take {} events of bucket `{}` for the same keys",
                other.name,
                handler.name,
                source
                    .events
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join("/"),
                source.bucket
            ),
            "S3 refuses overlapping rules: give them prefixes or suffixes that cannot match the same key",
        );
    }
}

fn rules_overlap(a: &S3Source, b: &S3Source) -> bool {
    a.bucket == b.bucket
        && a.events.iter().any(|kind| b.events.contains(kind))
        && super::model::key_filters_overlap(a.key_filters(), b.key_filters())
}
