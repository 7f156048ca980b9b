//! The request path: every AWS request is classified, delayed, perhaps
//! refused or dropped as real AWS would, then forwarded to moto; moto's
//! answer is observed (roles, functions, code) and rewritten where real
//! AWS answers differently (Pending / InProgress states). Invoke is
//! answered by running the function (see `invoke`).
//!
//! A dropped connection is an `Err` from the service: hyper closes the
//! connection without answering, which is what a client sees on a reset.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use crate::behaviours::Behaviours;
use crate::invoke::{Invoker, PAYLOAD_LIMIT, Version, log_stream};
use crate::live_tail;
use crate::request::{Call, classify, form_field};
use crate::rng::Rng;
use crate::world::{Busy, Refusal, World};

/// One request the simulator handled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub seq: usize,
    /// The HTTP method (API Gateway authorises by it).
    pub method: String,
    pub service: String,
    pub operation: String,
    /// What the request names, where the simulator reads it: a Lambda
    /// function, or a log group (or name prefix) for CloudWatch Logs.
    pub target: Option<String>,
    pub mutating: bool,
    /// The HTTP status answered (0 when the connection was dropped).
    pub status: u16,
    /// When the request arrived and when it was answered, in
    /// milliseconds since the simulator started.
    pub started_ms: f64,
    pub ended_ms: f64,
    /// `forwarded`, `slow` (forwarded late), `state <State>` (forwarded,
    /// with a function state moto does not have: `Pending`, `InProgress`,
    /// `Inactive`), `invoked`, `fault <code>`, `error <code>`,
    /// `refused <code>` (an AWS rule), `reset`, `lost` (moto acted, the
    /// answer was dropped), `stale` (an eventually consistent read),
    /// `denied` (an action in `Behaviours::denied`), `held` (after
    /// `hold_after_writes`: never forwarded).
    pub outcome: String,
}

pub(crate) struct Shared {
    pub(crate) upstream: String,
    pub(crate) behaviours: Mutex<Behaviours>,
    pub(crate) rng: Mutex<Rng>,
    pub(crate) world: Mutex<World>,
    pub(crate) events: Mutex<Vec<Event>>,
    pub(crate) invoker: Invoker,
    client: Client<HttpConnector, Full<Bytes>>,
    /// Mutating requests admitted since the behaviours were last set.
    admitted_writes: std::sync::atomic::AtomicUsize,
    /// Bumped whenever the behaviours change (releases held requests).
    generation: tokio::sync::watch::Sender<u64>,
    /// When the simulator started (event times count from here).
    began: Instant,
    /// Requests being handled now (held ones included).
    pub(crate) in_flight: std::sync::atomic::AtomicUsize,
    /// Of those, the ones held (`hold_after_writes`) until the
    /// behaviours change.
    pub(crate) held: std::sync::atomic::AtomicUsize,
    /// Where requests are written down for the API model judge, if on.
    pub(crate) recorder: Option<crate::recorder::Recorder>,
    /// Log groups a CreateLogGroup or DeleteLogGroup is changing now.
    log_groups_changing: Mutex<std::collections::HashSet<String>>,
}

/// A request that changes one log group, for as long as it is handled;
/// `aborted` when another request was changing the same group as it
/// arrived. CloudWatch Logs answers such a request
/// `OperationAbortedException` (400): "Multiple concurrent requests to
/// update the same resource were in conflict."
// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html
// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DeleteLogGroup.html
struct LogGroupChange<'a> {
    shared: &'a Shared,
    name: Option<String>,
    aborted: bool,
}

impl<'a> LogGroupChange<'a> {
    fn enter(shared: &'a Shared, call: &Call) -> LogGroupChange<'a> {
        let changes = matches!(call.operation.as_str(), "CreateLogGroup" | "DeleteLogGroup");
        let Some(name) = call.log_group.clone().filter(|_| changes) else {
            return LogGroupChange {
                shared,
                name: None,
                aborted: false,
            };
        };
        let entered = lock(&shared.log_groups_changing).insert(name.clone());
        LogGroupChange {
            shared,
            name: entered.then_some(name),
            aborted: !entered,
        }
    }
}

impl Drop for LogGroupChange<'_> {
    fn drop(&mut self) {
        if let Some(name) = &self.name {
            lock(&self.shared.log_groups_changing).remove(name);
        }
    }
}

/// Counts a request as in flight for as long as it lives.
struct InFlight<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(count: &'a std::sync::atomic::AtomicUsize) -> InFlight<'a> {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The connection is dropped without an answer.
#[derive(Debug)]
pub(crate) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the simulator")
    }
}

impl std::error::Error for Dropped {}

/// Answers are whole bodies, except a Live Tail session's stream.
pub(crate) type AnswerBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;
type Answer = Response<AnswerBody>;

fn full(bytes: impl Into<Bytes>) -> AnswerBody {
    Full::new(bytes.into()).boxed()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn new(
        upstream: &str,
        behaviours: Behaviours,
        recorder: Option<crate::recorder::Recorder>,
    ) -> Shared {
        Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            rng: Mutex::new(Rng::new(behaviours.seed)),
            behaviours: Mutex::new(behaviours),
            world: Mutex::new(World::default()),
            events: Mutex::new(Vec::new()),
            invoker: Invoker::default(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            admitted_writes: std::sync::atomic::AtomicUsize::new(0),
            generation: tokio::sync::watch::Sender::new(0),
            began: Instant::now(),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            held: std::sync::atomic::AtomicUsize::new(0),
            recorder,
            log_groups_changing: Mutex::new(std::collections::HashSet::new()),
        }
    }

    pub(crate) fn set_behaviours(&self, behaviours: Behaviours) {
        *lock(&self.rng) = Rng::new(behaviours.seed);
        *lock(&self.behaviours) = behaviours;
        self.admitted_writes
            .store(0, std::sync::atomic::Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn record(&self, call: &Call, status: u16, outcome: impl Into<String>) {
        let ended_ms = self.began.elapsed().as_secs_f64() * 1000.0;
        let mut events = lock(&self.events);
        let seq = events.len();
        events.push(Event {
            seq,
            started_ms: call.started_ms,
            ended_ms,
            method: call.method.clone(),
            service: call.service.clone(),
            operation: call.operation.clone(),
            target: call.function.clone().or_else(|| call.log_group.clone()),
            mutating: call.mutating,
            status,
            outcome: outcome.into(),
        });
    }
}

/// An AWS error document in the protocol of `service`.
fn aws_error(service: &str, status: u16, code: &str, message: &str) -> Answer {
    let (content_type, body) = if service == "s3" {
        (
            "application/xml",
            format!(
                "<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{}</RequestId></Error>",
                uuid::Uuid::new_v4()
            ),
        )
    } else if service == "iam" || service == "sts" {
        (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
                uuid::Uuid::new_v4()
            ),
        )
    } else {
        (
            "application/json",
            serde_json::json!({ "__type": code, "message": message, "Message": message })
                .to_string(),
        )
    };
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("x-amzn-errortype", code)
        .header("x-amzn-requestid", uuid::Uuid::new_v4().to_string())
        .header("content-type", content_type)
        .body(full(body))
        .unwrap_or_default()
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_default()
}

/// The random faults drawn for one request, in one go (same seed, same
/// draws, whatever the timing).
struct Draw {
    latency: Duration,
    reset: bool,
    error: Option<(u16, &'static str)>,
    slow: bool,
    lost: bool,
}

fn draw(behaviours: &Behaviours, rng: &mut Rng, call: &Call) -> Draw {
    let latency = behaviours.latency_for(&call.service);
    let jitter = rng.unit() * latency.jitter_ms;
    let reset = rng.chance(behaviours.reset_rate);
    let error = rng.chance(behaviours.error_rate).then(|| {
        if rng.unit() < 0.5 {
            (500, "InternalFailure")
        } else {
            (503, "ServiceUnavailable")
        }
    });
    let slow = rng.chance(behaviours.slow_rate);
    let lost = rng.chance(behaviours.lost_response_rate) && call.mutating;
    Draw {
        latency: behaviours.scaled((latency.fixed_ms + jitter) / 1000.0),
        reset,
        error,
        slow,
        lost,
    }
}

/// Serves one request.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Answer, Dropped> {
    let _in_flight = InFlight::enter(&shared.in_flight);
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or_default().to_string();
    if let Some(control) = path.strip_prefix("/_sim/") {
        return Ok(control_api(&shared, &parts.method, control, &body));
    }
    let call = classify(&parts.method, &path, &query, &parts.headers, &body);
    let Some(recorder) = &shared.recorder else {
        return respond(shared.clone(), parts, body, call, path, query).await;
    };
    // Written down with its answer, for the API model judge; an answer
    // that streams (Live Tail) is left unread.
    let request = recorder.request(&parts, &call.service, &body);
    let streams = call.operation == "StartLiveTail";
    let answered = respond(shared.clone(), parts, body, call, path, query).await;
    match answered {
        Ok(answer) if !streams => {
            let (head, body) = answer.into_parts();
            let Ok(collected) = body.collect().await;
            let bytes = collected.to_bytes();
            recorder.write(request, Some((head.status.as_u16(), &head.headers, &bytes)));
            Ok(Response::from_parts(head, full(bytes)))
        }
        other => {
            recorder.write(request, None);
            other
        }
    }
}

/// Answers one request as AWS would (after the control API and the
/// recorder).
async fn respond(
    shared: Arc<Shared>,
    parts: hyper::http::request::Parts,
    body: Bytes,
    mut call: Call,
    path: String,
    query: String,
) -> Result<Answer, Dropped> {
    call.started_ms = shared.began.elapsed().as_secs_f64() * 1000.0;
    let mut behaviours = lock(&shared.behaviours).clone();
    if behaviours.hold_service.as_deref() == Some(call.service.as_str()) {
        // Carried out once the behaviours change, as they are then.
        let mut changed = shared.generation.subscribe();
        let _ = changed.changed().await;
        behaviours = lock(&shared.behaviours).clone();
    }
    let mut lose_this = false;
    if call.mutating {
        let mut changed = shared.generation.subscribe();
        let admitted = shared
            .admitted_writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if behaviours.hold_after_writes.is_some_and(|k| admitted >= k) {
            shared.record(&call, 0, "held");
            let _held = InFlight::enter(&shared.held);
            let _ = changed.changed().await;
            return Err(Dropped);
        }
        lose_this = behaviours.lose_write == Some(admitted + 1);
    }
    let draw = draw(&behaviours, &mut lock(&shared.rng), &call);
    // Changing from its arrival: its latency is the time AWS takes.
    let change = LogGroupChange::enter(&shared, &call);
    tokio::time::sleep(draw.latency).await;
    if change.aborted {
        shared.record(&call, 400, "refused OperationAbortedException");
        return Ok(aws_error(
            &call.service,
            400,
            "OperationAbortedException",
            "Multiple concurrent requests to update the same resource were in conflict.",
        ));
    }
    if draw.reset {
        shared.record(&call, 0, "reset");
        return Err(Dropped);
    }
    if draw.slow {
        tokio::time::sleep(behaviours.scaled(behaviours.slow_ms / 1000.0)).await;
    }
    let mut lose = draw.lost || lose_this;
    match explicit_fault(&shared, &parts.method, &path, &parts.headers, &body) {
        Some(fault) if fault.status == 0 && fault.code == crate::Fault::RESET => {
            shared.record(&call, 0, "reset");
            return Err(Dropped);
        }
        // Status 0: a lost response, after moto did the work.
        Some(fault) if fault.status == 0 => lose = true,
        Some(fault) => {
            shared.record(&call, fault.status, format!("fault {}", fault.code));
            return Ok(aws_error(
                &call.service,
                fault.status,
                &fault.code,
                &fault.message,
            ));
        }
        None => {}
    }
    if let Some((status, code)) = draw.error {
        shared.record(&call, status, format!("error {code}"));
        return Ok(aws_error(
            &call.service,
            status,
            code,
            "injected by the simulator",
        ));
    }
    let action = format!("{}:{}", call.service, call.operation);
    if behaviours.denied.contains(&action) {
        shared.record(&call, 403, "denied");
        let code = if call.service == "iam" || call.service == "sts" {
            "AccessDenied"
        } else {
            "AccessDeniedException"
        };
        let message = format!(
            "User: arn:aws:iam::123456789012:user/slx-sim is not authorized to perform: {action} because no identity-based policy allows the {action} action"
        );
        return Ok(aws_error(&call.service, 403, code, &message));
    }
    let now = Instant::now();
    let refused = match call.operation.as_str() {
        "PutBucketNotificationConfiguration" => {
            notification_rules(&shared, &parts.headers, &body).await
        }
        "CreateUsagePlan" | "UpdateUsagePlan" | "DeleteUsagePlan" => {
            usage_plan_rules(&shared, &parts.headers, &call, &path, &body).await
        }
        _ => aws_rules(&shared, &behaviours, &call, &body, now),
    };
    if let Err(refusal) = refused {
        shared.record(&call, refusal.status, format!("refused {}", refusal.code));
        return Ok(aws_error(
            &call.service,
            refusal.status,
            refusal.code,
            &refusal.message,
        ));
    }
    if call.operation == "StartLiveTail" && behaviours.live_tail {
        return Ok(live_tail(&shared, &behaviours, &call, &parts.headers, body).await);
    }
    if call.operation.ends_with("ProvisionedConcurrencyConfig") {
        let answer = provisioned_concurrency(&shared, &behaviours, &call, &body, now);
        shared.record(&call, answer.status().as_u16(), "emulated");
        return Ok(answer);
    }
    if call.service == "ec2" && call.operation == "DescribeNetworkInterfaces" {
        let answer = describe_interfaces(&shared, &body, now);
        shared.record(&call, 200, "emulated");
        return Ok(answer);
    }
    if call.operation == "Invoke" && behaviours.invoke {
        let answer = invoke(&shared, &call, &parts.headers, body).await;
        shared.record(&call, answer.status().as_u16(), "invoked");
        return Ok(answer);
    }
    // Scheduler shows a deleted group as DELETING until its schedules are
    // gone (moto forgets it at once).
    if call.operation == "GetScheduleGroup"
        && let Some(name) = &call.path_tail
        && lock(&shared.world).group_deleting(name, now)
    {
        shared.record(&call, 200, "deleting");
        let region = region_of(&parts.headers);
        let document = serde_json::json!({
            "Arn": format!("arn:aws:scheduler:{region}:123456789012:schedule-group/{name}"),
            "Name": name,
            "State": "DELETING",
        });
        return Ok(build(
            200,
            &[("content-type".into(), "application/json".into())],
            Bytes::from(document.to_string()),
        ));
    }
    if call.operation == "GetRole"
        && let Some(name) = form_field(&body, "RoleName")
        && let Some(stale) = lock(&shared.world).stale_role(&name, &behaviours, now)
    {
        shared.record(&call, 200, "stale");
        return Ok(build(
            200,
            &[("content-type".into(), "text/xml".into())],
            stale,
        ));
    }
    observe_upload(&shared, &call, &body);
    let (status, headers, answer) = forward(
        &shared,
        &parts.method,
        &path,
        &query,
        &parts.headers,
        failing_update_for_moto(
            &call,
            &behaviours,
            filter_rule_names_for_moto(&call, mock_integrations_for_moto(&call, body.clone())),
        ),
    )
    .await
    .map_err(|_| Dropped)?;
    let (status, answer) = no_mappings_yet(&shared, &parts, &path, status, answer).await;
    let mut state = None;
    let answer = if (200..300).contains(&status) {
        if call.operation == "GetRole"
            && let Some(name) = form_field(&body, "RoleName")
        {
            lock(&shared.world).role_read(&name, answer.clone());
        }
        observe_success(&shared, &behaviours, &call, &body, &answer, Instant::now());
        let (answer, reported) = rewrite_state(&shared, &behaviours, &call, answer);
        state = reported;
        let answer = with_function_settings(&shared, &call, answer);
        let answer = with_binary_media_types(&shared, &call, answer);
        let answer = with_integration_types(&call, answer);
        let answer = with_usage_plan_numbers(&call, &path, answer);
        let answer = with_notification_root(&call, answer);
        let answer = with_filter_rule_names(&call, answer);
        let answer = with_deleting_mappings(&shared, &call, &query, answer);
        let answer = if call.operation == "PutRestApi" && !behaviours.import_warnings.is_empty() {
            with_warnings(answer, &behaviours.import_warnings)
        } else {
            answer
        };
        let answer = if call.operation == "GetFunction" {
            with_code_location(&parts.headers, answer)
        } else {
            answer
        };
        if call.operation == "GetFunction"
            && behaviours.denied.iter().any(|d| d == "lambda:ListTags")
        {
            without_tags(answer)
        } else {
            answer
        }
    } else {
        answer
    };
    let (headers, answer) = lambda_error_codes(&call, status, headers, answer);
    if lose {
        shared.record(&call, 0, "lost");
        return Err(Dropped);
    }
    let outcome = match (draw.slow, state) {
        (true, _) => "slow".to_string(),
        (false, Some(state)) => format!("state {state}"),
        (false, None) => "forwarded".to_string(),
    };
    shared.record(&call, status, outcome);
    Ok(build(status, &headers, answer))
}

/// Lambda's own name for a conflict (an alias or permission that exists,
/// an update in progress): `ResourceConflictException`, the only one its
/// operations list; moto answers some as `ConflictException`.
// https://docs.aws.amazon.com/lambda/latest/api/API_CreateAlias.html#API_CreateAlias_Errors
fn lambda_error_codes(
    call: &Call,
    status: u16,
    mut headers: Vec<(String, String)>,
    body: Bytes,
) -> (Vec<(String, String)>, Bytes) {
    if call.service != "lambda" || status < 400 {
        return (headers, body);
    }
    let renamed = |code: &str| (code == "ConflictException").then_some("ResourceConflictException");
    for (name, value) in headers.iter_mut() {
        if name.eq_ignore_ascii_case("x-amzn-errortype")
            && let Some(code) = renamed(value.split(':').next().unwrap_or_default())
        {
            *value = code.to_string();
        }
    }
    let mut document = json(&body);
    let mut changed = false;
    for key in ["__type", "Type", "code"] {
        if let Some(code) = document[key].as_str().and_then(renamed) {
            document[key] = serde_json::json!(code);
            changed = true;
        }
    }
    let body = if changed {
        Bytes::from(document.to_string())
    } else {
        body
    };
    (headers, body)
}

fn build(status: u16, headers: &[(String, String)], body: Bytes) -> Answer {
    let mut response =
        Response::builder().status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY));
    for (name, value) in headers {
        if !matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection" | "keep-alive"
        ) {
            response = response.header(name, value);
        }
    }
    response.body(full(body)).unwrap_or_default()
}

/// The first explicit fault the request matches (one use of it).
fn explicit_fault(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &hyper::HeaderMap,
    body: &[u8],
) -> Option<crate::behaviours::Fault> {
    let text = String::from_utf8_lossy(body);
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut behaviours = lock(&shared.behaviours);
    let fault = behaviours.faults.iter_mut().find(|f| {
        f.times > 0
            && (f.method == "*" || f.method == method.as_str())
            && (path.ends_with(&f.url_part)
                || text.contains(&f.url_part)
                || target.contains(&f.url_part))
    })?;
    fault.times -= 1;
    Some(fault.clone())
}

/// What real AWS refuses that moto accepts.
fn aws_rules(
    shared: &Shared,
    behaviours: &Behaviours,
    call: &Call,
    body: &[u8],
    now: Instant,
) -> Result<(), Refusal> {
    let mut world = lock(&shared.world);
    if call.service == "apigateway" && behaviours.apigateway_quotas {
        world.check_quota(&call.operation, behaviours, now)?;
    }
    if call.operation == "PutRestApi" {
        mocks_under_binary_media_types(&json(body))?;
    }
    // A group being deleted refuses its name until it is gone.
    // https://docs.aws.amazon.com/scheduler/latest/APIReference/API_DeleteScheduleGroup.html
    if call.operation == "CreateScheduleGroup"
        && let Some(name) = &call.path_tail
        && world.group_deleting(name, now)
    {
        return Err(Refusal {
            status: 409,
            code: "ConflictException",
            message: format!("Schedule group {name} is being deleted."),
        });
    }
    if call.operation == "CreateEventSourceMapping" {
        let request = json(body);
        let function = request["FunctionName"].as_str().unwrap_or_default();
        let source = request["EventSourceArn"].as_str().unwrap_or_default();
        if let Some(old) = world
            .deleting_mappings(function, now)
            .iter()
            .find(|m| m["EventSourceArn"] == source)
        {
            // https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html
            return Err(Refusal {
                status: 409,
                code: "ResourceConflictException",
                message: format!(
                    "An event source mapping with SQS arn (\" {source} \") and function (\" {function} \") already exists. Please update or delete the existing mapping with UUID {}",
                    old["UUID"].as_str().unwrap_or_default()
                ),
            });
        }
    }
    if call.service == "scheduler"
        && call.mutating
        && let Some(role) = json(body)["Target"]["RoleArn"].as_str()
    {
        world.check_role(role, behaviours, now, Refusal::scheduler_role)?;
    }
    if call.service != "lambda" {
        return Ok(());
    }
    if matches!(
        call.operation.as_str(),
        "CreateFunction" | "UpdateFunctionConfiguration"
    ) && let Some(role) = json(body)["Role"].as_str()
    {
        world.check_role(role, behaviours, now, Refusal::lambda_role)?;
    }
    let latest = call.qualifier.as_deref().is_none_or(|q| q == "$LATEST");
    if let Some(function) = &call.function
        && (latest || call.operation == "Invoke")
    {
        world.check_function(function, &call.operation, now)?;
    }
    if call.operation == "AddPermission"
        && let (Some(function), Some(sid)) = (&call.function, json(body)["StatementId"].as_str())
    {
        world.check_statement(function, call.qualifier.as_deref().unwrap_or(""), sid)?;
    }
    Ok(())
}

/// A mock integration (a CORS preflight) of an API whose binary media
/// types include `*/*` must convert to text: API Gateway otherwise
/// treats every request as binary, which a mock cannot take, and
/// answers each preflight 500 "Unable to transform request". API
/// Gateway accepts such an import and fails at request time; the
/// simulator, which serves no API, refuses the import so a test sees it.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings-workflow.html
// https://serverlessland.com/snippets/apigateway-mock-integration-binary-media-types
fn mocks_under_binary_media_types(document: &serde_json::Value) -> Result<(), Refusal> {
    let every_type = document["x-amazon-apigateway-binary-media-types"]
        .as_array()
        .is_some_and(|types| types.iter().any(|t| t == "*/*"));
    if !every_type {
        return Ok(());
    }
    let paths = document["paths"].as_object().into_iter().flatten();
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().into_iter().flatten() {
            let integration = &operation["x-amazon-apigateway-integration"];
            if integration["type"] == "mock" && integration["contentHandling"] != "CONVERT_TO_TEXT"
            {
                return Err(Refusal {
                    status: 400,
                    code: "BadRequestException",
                    message: format!(
                        "slx-sim: the mock integration of {} {path} has no contentHandling CONVERT_TO_TEXT under binary media type */*: API Gateway would answer every request to it 500 \"Unable to transform request\"",
                        method.to_ascii_uppercase()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// S3's checks of a new notification configuration. Whether a function
/// lets S3 invoke it is asked of moto (its policy), not of what this
/// simulator saw: a permission whose answer never reached the client (a
/// killed or lost call) exists all the same, as on AWS.
async fn notification_rules(
    shared: &Shared,
    headers: &hyper::HeaderMap,
    body: &[u8],
) -> Result<(), Refusal> {
    let rules = crate::bucket_notifications::rules(&String::from_utf8_lossy(body));
    let region = region_of(headers);
    let mut allowed = std::collections::HashSet::new();
    for (name, qualifier) in rules
        .iter()
        .filter_map(|r| crate::bucket_notifications::function_of(r.function.as_deref()?))
    {
        if upstream_allows_s3(shared, &region, &name, &qualifier).await {
            allowed.insert((name, qualifier));
        }
    }
    crate::bucket_notifications::check(&rules, |function, qualifier| {
        allowed.contains(&(function.to_string(), qualifier.to_string()))
    })
}

/// What API Gateway checks of a usage plan's API stages, which moto
/// does not: a plan may cover only a stage that exists, and a plan that
/// still covers any cannot be deleted.
// https://docs.aws.amazon.com/apigateway/latest/api/API_DeleteUsagePlan.html
async fn usage_plan_rules(
    shared: &Shared,
    headers: &hyper::HeaderMap,
    call: &Call,
    path: &str,
    body: &[u8],
) -> Result<(), Refusal> {
    let region = region_of(headers);
    let refuse = |message: String| Refusal {
        status: 400,
        code: "BadRequestException",
        message,
    };
    let attached: Vec<(String, String)> = match call.operation.as_str() {
        "CreateUsagePlan" => json(body)["apiStages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                Some((
                    s["apiId"].as_str()?.to_string(),
                    s["stage"].as_str()?.to_string(),
                ))
            })
            .collect(),
        "UpdateUsagePlan" => json(body)["patchOperations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|op| op["op"] == "add" && op["path"] == "/apiStages")
            .filter_map(|op| {
                let (api, stage) = op["value"].as_str()?.split_once(':')?;
                Some((api.to_string(), stage.to_string()))
            })
            .collect(),
        _ => {
            let (status, answer) = upstream_get(shared, &region, "apigateway", path, "").await;
            let stages = json(&answer)["apiStages"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if status == 200
                && let Some(first) = stages.first()
            {
                let id = path.rsplit('/').next().unwrap_or_default();
                return Err(refuse(format!(
                    "Cannot delete Usage Plan {id} because there are API Stages associated with it, including {}:{}",
                    first["apiId"].as_str().unwrap_or_default(),
                    first["stage"].as_str().unwrap_or_default()
                )));
            }
            return Ok(());
        }
    };
    for (api, stage) in attached {
        let stage_path = format!("/restapis/{api}/stages/{stage}");
        let (status, _) = upstream_get(shared, &region, "apigateway", &stage_path, "").await;
        if status != 200 {
            return Err(refuse(format!(
                "Invalid API Stage {{api: {api}, stage: {stage}}} specified for usageplan"
            )));
        }
    }
    Ok(())
}

/// A read of moto's state, as `service` in `region`: its status and body.
async fn upstream_get(
    shared: &Shared,
    region: &str,
    service: &str,
    path: &str,
    query: &str,
) -> (u16, Bytes) {
    // moto routes by the credential scope's service; it checks no signature.
    let mut headers = hyper::HeaderMap::new();
    let scope = format!(
        "AWS4-HMAC-SHA256 Credential=slx-sim/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    if let Ok(value) = hyper::header::HeaderValue::from_str(&scope) {
        headers.insert("authorization", value);
    }
    match forward(shared, &Method::GET, path, query, &headers, Bytes::new()).await {
        Ok((status, _, answer)) => (status, answer),
        Err(_) => (0, Bytes::new()),
    }
}

/// Whether moto's policy of `name:qualifier` has a statement for S3.
async fn upstream_allows_s3(shared: &Shared, region: &str, name: &str, qualifier: &str) -> bool {
    let path = format!("/2015-03-31/functions/{name}/policy");
    let query = format!("Qualifier={qualifier}");
    let (200, answer) = upstream_get(shared, region, "lambda", &path, &query).await else {
        return false;
    };
    let policy = json(&answer)["Policy"]
        .as_str()
        .map(|text| serde_json::from_str::<serde_json::Value>(text).unwrap_or_default())
        .unwrap_or_default();
    policy["Statement"].as_array().is_some_and(|statements| {
        statements
            .iter()
            .any(|s| s["Principal"]["Service"] == "s3.amazonaws.com")
    })
}

/// Keeps the zip of a CreateFunction or UpdateFunctionCode.
fn observe_upload(shared: &Shared, call: &Call, body: &[u8]) {
    let document = match call.operation.as_str() {
        "CreateFunction" => json(body)["Code"]["ZipFile"].clone(),
        "UpdateFunctionCode" => json(body)["ZipFile"].clone(),
        _ => return,
    };
    if let Some(zip) = document
        .as_str()
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
    {
        lock(&shared.world).keep_code(Bytes::from(zip));
    }
}

fn observe_success(
    shared: &Shared,
    behaviours: &Behaviours,
    call: &Call,
    body: &[u8],
    answer: &[u8],
    now: Instant,
) {
    let mut world = lock(&shared.world);
    match call.operation.as_str() {
        "CreateRole" => {
            if let Some(name) = form_field(body, "RoleName") {
                world.role_created(&name, now);
            }
        }
        "DeleteRole" => {
            if let Some(name) = form_field(body, "RoleName") {
                world.role_deleted(&name, now);
                world.interfaces.role_policy_set(&name, None, now);
            }
        }
        "CreateFunction" => {
            let request = json(body);
            if let Some(name) = request["FunctionName"].as_str() {
                world.function_created(name, behaviours, now);
                place_in_vpc(&mut world, behaviours, name, &request, now);
            }
        }
        "PutRolePolicy" => {
            if let Some(name) = form_field(body, "RoleName") {
                let document = form_field(body, "PolicyDocument");
                world
                    .interfaces
                    .role_policy_set(&name, document.as_deref(), now);
            }
        }
        "DeleteRolePolicy" => {
            if let Some(name) = form_field(body, "RoleName") {
                world.interfaces.role_policy_set(&name, None, now);
            }
        }
        "UpdateFunctionConfiguration" if behaviours.update_failure.is_some() => {
            if let (Some(name), Some(code)) = (&call.function, &behaviours.update_failure) {
                world.function_update_failed(name, code, behaviours, now);
            }
        }
        "UpdateFunctionCode" | "UpdateFunctionConfiguration" => {
            if let Some(name) = &call.function {
                world.function_updated(name, behaviours, now);
                if call.operation == "UpdateFunctionConfiguration" {
                    let request = json(body);
                    world.function_configured(name, &request);
                    place_in_vpc(&mut world, behaviours, name, &request, now);
                }
            }
        }
        "AddPermission" => {
            if let (Some(function), Some(sid)) =
                (&call.function, json(body)["StatementId"].as_str())
            {
                world.statement_added(function, call.qualifier.as_deref().unwrap_or(""), sid);
            }
        }
        "RemovePermission" => {
            if let (Some(function), Some(sid)) = (&call.function, call.path_tail.as_deref()) {
                world.statement_removed(function, call.qualifier.as_deref().unwrap_or(""), sid);
            }
        }
        "PutRestApi" => {
            if let Some(api) = &call.path_tail {
                world.api_imported(api, &json(body));
            }
        }
        "DeleteAlias" => {
            if let (Some(function), Some(alias)) = (&call.function, &call.path_tail) {
                world.unprovision(function, alias);
            }
        }
        "DeleteScheduleGroup" if behaviours.schedule_group_deletion_s > 0.0 => {
            if let Some(name) = &call.path_tail {
                let gone_at = now + behaviours.scaled(behaviours.schedule_group_deletion_s);
                world.group_deleted(name, gone_at);
            }
        }
        "DeleteEventSourceMapping" if behaviours.mapping_deletion_s > 0.0 => {
            let gone_at = now + behaviours.scaled(behaviours.mapping_deletion_s);
            world.mapping_deleted(json(answer), gone_at);
        }
        // Lambda allocates an alias's provisioned concurrency anew to the
        // version the alias now points at.
        // https://docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html
        "UpdateAlias" => {
            if let (Some(function), Some(alias)) = (&call.function, &call.path_tail) {
                world.reprovision(
                    function,
                    alias,
                    now + behaviours.scaled(behaviours.pending_s),
                );
            }
        }
        "DeleteFunction" if call.qualifier.is_none() => {
            if let Some(name) = &call.function {
                world.function_deleted(name);
                let release_in = behaviours.scaled(behaviours.interface_release_s);
                world.interfaces.function_deleted(name, now, release_in);
            }
        }
        _ => {}
    }
}

/// The network interfaces of a function a `CreateFunction` or
/// `UpdateFunctionConfiguration` with `VpcConfig` places (an update
/// without one leaves them as they are).
fn place_in_vpc(
    world: &mut World,
    behaviours: &Behaviours,
    function: &str,
    request: &serde_json::Value,
    now: Instant,
) {
    let Some(vpc) = request.get("VpcConfig") else {
        return;
    };
    let subnets: Vec<String> = vpc["SubnetIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    world.interfaces.function_placed(
        function,
        request["Role"].as_str(),
        &subnets,
        now,
        behaviours.scaled(behaviours.interface_release_s),
    );
}

/// EC2's `DescribeNetworkInterfaces`, for the interfaces Lambda made
/// (`interfaces.rs`).
fn describe_interfaces(shared: &Shared, body: &[u8], now: Instant) -> Answer {
    let descriptions = crate::interfaces::description_filter(|name| form_field(body, name));
    let found = lock(&shared.world).interfaces.described(&descriptions, now);
    build(
        200,
        &[("content-type".into(), "text/xml;charset=UTF-8".into())],
        Bytes::from(crate::interfaces::answer(&found)),
    )
}

/// Lambda's provisioned concurrency API, which moto lacks: a
/// configuration per alias, `IN_PROGRESS` until its instances are
/// allocated (`pending_s` after the request), then `READY`.
// https://docs.aws.amazon.com/lambda/latest/api/API_PutProvisionedConcurrencyConfig.html
fn provisioned_concurrency(
    shared: &Shared,
    behaviours: &Behaviours,
    call: &Call,
    body: &[u8],
    now: Instant,
) -> Answer {
    let function = call.function.clone().unwrap_or_default();
    let mut world = lock(&shared.world);
    if !world.function_exists(&function) {
        return aws_error(
            "lambda",
            404,
            "ResourceNotFoundException",
            &format!("Function not found: {function}"),
        );
    }
    let Some(alias) = call.qualifier.clone().filter(|q| q != "$LATEST") else {
        return aws_error(
            "lambda",
            400,
            "InvalidParameterValueException",
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
        );
    };
    let not_found = || {
        aws_error(
            "lambda",
            404,
            "ProvisionedConcurrencyConfigNotFoundException",
            "No Provisioned Concurrency Config found for this function",
        )
    };
    let answer = |status: u16, config: &crate::world::ProvisionedConfig| {
        let ready = config.ready && config.failure.is_none();
        let allocated = if ready { config.requested } else { 0 };
        let mut document = serde_json::json!({
            "RequestedProvisionedConcurrentExecutions": config.requested,
            "AvailableProvisionedConcurrentExecutions": allocated,
            "AllocatedProvisionedConcurrentExecutions": allocated,
            "Status": match (&config.failure, config.ready) {
                (Some(_), true) => "FAILED",
                (_, true) => "READY",
                (_, false) => "IN_PROGRESS",
            },
            "LastModified": "2026-11-27T00:00:00.000+0000",
        });
        if let (Some(reason), true) = (&config.failure, config.ready) {
            document["StatusReason"] = serde_json::json!(reason);
        }
        build(
            status,
            &[("content-type".into(), "application/json".into())],
            Bytes::from(document.to_string()),
        )
    };
    match call.operation.as_str() {
        "PutProvisionedConcurrencyConfig" => {
            let Some(count) = json(body)["ProvisionedConcurrentExecutions"].as_u64() else {
                return aws_error(
                    "lambda",
                    400,
                    "InvalidParameterValueException",
                    "ProvisionedConcurrentExecutions is required",
                );
            };
            let ready_at = now + behaviours.scaled(behaviours.pending_s);
            let failure = behaviours.provisioned_failure.clone();
            world.provision(&function, &alias, count as u32, ready_at, failure);
            answer(
                202,
                &crate::world::ProvisionedConfig {
                    requested: count as u32,
                    ready: false,
                    failure: None,
                },
            )
        }
        "DeleteProvisionedConcurrencyConfig" => {
            if world.unprovision(&function, &alias) {
                build(204, &[], Bytes::new())
            } else {
                not_found()
            }
        }
        _ => match world.provisioned(&function, &alias, now) {
            Some(config) => answer(200, &config),
            None => not_found(),
        },
    }
}

/// A function (or version) as Lambda shows it after an update of
/// settings moto ignores (`World::function_configured`); a published
/// version keeps the settings `$LATEST` had.
fn with_function_settings(shared: &Shared, call: &Call, body: Bytes) -> Bytes {
    let operation = call.operation.as_str();
    if !matches!(
        operation,
        "GetFunction"
            | "GetFunctionConfiguration"
            | "UpdateFunctionConfiguration"
            | "PublishVersion"
    ) {
        return body;
    }
    let Some(name) = call.function.as_deref() else {
        return body;
    };
    let mut document = json(&body);
    let config = if operation == "GetFunction" {
        &mut document["Configuration"]
    } else {
        &mut document
    };
    let Some(version) = config["Version"].as_str().map(str::to_string) else {
        return body;
    };
    let mut world = lock(&shared.world);
    if operation == "PublishVersion" {
        world.version_published(name, &version);
    }
    let Some(settings) = world.function_settings(name, &version) else {
        return body;
    };
    for (field, value) in settings {
        config[field] = value.clone();
    }
    Bytes::from(document.to_string())
}

/// An OpenAPI import as moto can take it: moto requires `uri` and
/// `httpMethod` on every integration, where API Gateway needs neither on
/// a `mock` one (a CORS preflight's); they are added, empty and the
/// method's own, before moto sees it.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-integration.html
fn mock_integrations_for_moto(call: &Call, body: Bytes) -> Bytes {
    if call.operation != "PutRestApi" {
        return body;
    }
    let mut document = json(&body);
    let mut changed = false;
    if let Some(paths) = document["paths"].as_object_mut() {
        for operations in paths.values_mut() {
            let Some(operations) = operations.as_object_mut() else {
                continue;
            };
            for (method, operation) in operations.iter_mut() {
                let integration = &mut operation["x-amazon-apigateway-integration"];
                if integration["type"] == "mock" && integration.get("uri").is_none() {
                    integration["uri"] = serde_json::json!("");
                    integration["httpMethod"] = serde_json::json!(method.to_ascii_uppercase());
                    changed = true;
                }
            }
        }
    }
    if changed {
        Bytes::from(document.to_string())
    } else {
        body
    }
}

/// A bucket without notifications, as S3 answers it: an empty
/// `NotificationConfiguration` (moto names the root element
/// `GetBucketNotificationResponse`, which SDKs refuse to parse).
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketNotificationConfiguration.html
fn with_notification_root(call: &Call, body: Bytes) -> Bytes {
    if call.operation != "GetBucketNotificationConfiguration" {
        return body;
    }
    let text = String::from_utf8_lossy(&body);
    if !text.contains("<GetBucketNotificationResponse") {
        return body;
    }
    Bytes::from(
        text.replace("GetBucketNotificationResponse", "NotificationConfiguration")
            .into_bytes(),
    )
}

/// Event source mappings as Lambda shows them while one is deleted: the
/// deletion's answer says `Deleting`, and the mapping stays listed so
/// until it is gone (moto forgets it at once).
// https://docs.aws.amazon.com/lambda/latest/api/API_DeleteEventSourceMapping.html
fn with_deleting_mappings(shared: &Shared, call: &Call, query: &str, body: Bytes) -> Bytes {
    match call.operation.as_str() {
        "DeleteEventSourceMapping" => {
            let mut document = json(&body);
            if document.is_object() {
                document["State"] = serde_json::json!("Deleting");
                return Bytes::from(document.to_string());
            }
            body
        }
        "ListEventSourceMappings" => {
            let Some(function) = crate::request::query_param(query, "FunctionName")
                .map(|f| crate::request::percent_decode(&f))
            else {
                return body;
            };
            let deleting = lock(&shared.world).deleting_mappings(&function, Instant::now());
            if deleting.is_empty() {
                return body;
            }
            let mut document = json(&body);
            if let Some(mappings) = document["EventSourceMappings"].as_array_mut() {
                mappings.extend(deleting);
                return Bytes::from(document.to_string());
            }
            body
        }
        _ => body,
    }
}

/// An update that is to fail (`update_failure`) reaches moto empty: the
/// previous configuration stays in place, as Lambda keeps it when an
/// update fails, and moto answers it as it is.
// https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
fn failing_update_for_moto(call: &Call, behaviours: &Behaviours, body: Bytes) -> Bytes {
    if call.operation == "UpdateFunctionConfiguration" && behaviours.update_failure.is_some() {
        Bytes::from_static(b"{}")
    } else {
        body
    }
}

/// A notification configuration as moto can take it: S3 accepts filter
/// rule names in any case (and answers `Prefix`, `Suffix`), moto only
/// lowercase ones.
// https://github.com/aws/aws-sdk/issues/389
fn filter_rule_names_for_moto(call: &Call, body: Bytes) -> Bytes {
    if call.operation != "PutBucketNotificationConfiguration" {
        return body;
    }
    name_filter_rules(&body, ["prefix", "suffix"])
}

/// A notification configuration's key filter rules named as S3 answers
/// them, `Prefix` and `Suffix`, whatever case they were written in (moto
/// answers them as written; SDKs send `prefix` and `suffix`).
// https://github.com/aws/aws-sdk/issues/389
fn with_filter_rule_names(call: &Call, body: Bytes) -> Bytes {
    if call.operation != "GetBucketNotificationConfiguration" {
        return body;
    }
    name_filter_rules(&body, ["Prefix", "Suffix"])
}

/// `document` with its key filter rules named `names` (prefix, suffix),
/// in whatever case they were.
fn name_filter_rules(document: &[u8], [prefix, suffix]: [&str; 2]) -> Bytes {
    let mut text = String::from_utf8_lossy(document).into_owned();
    for name in [prefix, suffix] {
        for written in [name.to_ascii_lowercase(), capitalised(name)] {
            text = text.replace(
                &format!("<Name>{written}</Name>"),
                &format!("<Name>{name}</Name>"),
            );
        }
    }
    Bytes::from(text.into_bytes())
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

/// REST APIs as AWS shows them after an import set binary media types.
fn with_binary_media_types(shared: &Shared, call: &Call, body: Bytes) -> Bytes {
    if !matches!(call.operation.as_str(), "GetRestApis" | "PutRestApi") {
        return body;
    }
    let mut document = json(&body);
    let world = lock(&shared.world);
    let mut apis: Vec<&mut serde_json::Value> = match document.get_mut("item") {
        Some(serde_json::Value::Array(items)) => items.iter_mut().collect(),
        _ => vec![&mut document],
    };
    let mut changed = false;
    for api in apis.iter_mut() {
        if let Some(types) = api["id"]
            .as_str()
            .and_then(|id| world.binary_media_types(id))
        {
            api["binaryMediaTypes"] = serde_json::json!(types);
            changed = true;
        }
    }
    if changed {
        Bytes::from(document.to_string())
    } else {
        body
    }
}

/// Integration types as API Gateway answers them: its enum's names
/// (`AWS_PROXY`, `MOCK`), whatever case the OpenAPI import wrote
/// (`aws_proxy`); moto answers them as imported.
// https://docs.aws.amazon.com/apigateway/latest/api/API_Integration.html
fn with_integration_types(call: &Call, body: Bytes) -> Bytes {
    if !matches!(
        call.operation.as_str(),
        "GetResources" | "GetResource" | "GetMethod" | "GetIntegration"
    ) {
        return body;
    }
    fn upper(value: &mut serde_json::Value, changed: &mut bool) {
        match value {
            serde_json::Value::Object(members) => {
                for (key, inner) in members.iter_mut() {
                    match inner {
                        serde_json::Value::String(text)
                            if key == "type" && *text != text.to_ascii_uppercase() =>
                        {
                            *text = text.to_ascii_uppercase();
                            *changed = true;
                        }
                        _ => upper(inner, changed),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|i| upper(i, changed)),
            _ => {}
        }
    }
    let mut document = json(&body);
    let mut changed = false;
    // Only integrations carry a `type` in these answers.
    upper(&mut document, &mut changed);
    if changed {
        Bytes::from(document.to_string())
    } else {
        body
    }
}

/// Usage plans with numbers where API Gateway has numbers: moto keeps a
/// patched quota or throttle value as the string the patch carried,
/// which no SDK parses.
// https://docs.aws.amazon.com/apigateway/latest/api/API_QuotaSettings.html
fn with_usage_plan_numbers(call: &Call, path: &str, body: Bytes) -> Bytes {
    if call.service != "apigateway" || !path.starts_with("/usageplans") {
        return body;
    }
    let mut document = json(&body);
    let mut plans: Vec<&mut serde_json::Value> = match document.get_mut("item") {
        Some(serde_json::Value::Array(items)) => items.iter_mut().collect(),
        _ => vec![&mut document],
    };
    let mut changed = false;
    for plan in plans.iter_mut() {
        for (section, field) in [
            ("quota", "limit"),
            ("quota", "offset"),
            ("throttle", "burstLimit"),
            ("throttle", "rateLimit"),
        ] {
            let value = &mut plan[section][field];
            if let Some(number) = value.as_str().and_then(|t| t.parse::<f64>().ok()) {
                *value = if number.fract() == 0.0 {
                    serde_json::json!(number as i64)
                } else {
                    serde_json::json!(number)
                };
                changed = true;
            }
        }
    }
    if changed {
        Bytes::from(document.to_string())
    } else {
        body
    }
}

/// A custom domain without base path mappings, as API Gateway answers
/// it: an empty list (moto fails with 500 until the first mapping).
// https://docs.aws.amazon.com/apigateway/latest/api/API_GetBasePathMappings.html
async fn no_mappings_yet(
    shared: &Shared,
    parts: &hyper::http::request::Parts,
    path: &str,
    status: u16,
    answer: Bytes,
) -> (u16, Bytes) {
    let Some(domain) = path
        .strip_prefix("/domainnames/")
        .and_then(|rest| rest.strip_suffix("/basepathmappings"))
    else {
        return (status, answer);
    };
    if status != 500 || parts.method != Method::GET {
        return (status, answer);
    }
    let region = region_of(&parts.headers);
    let (exists, _) = upstream_get(
        shared,
        &region,
        "apigateway",
        &format!("/domainnames/{domain}"),
        "",
    )
    .await;
    match exists {
        200 => (200, Bytes::from_static(br#"{"item": []}"#)),
        _ => (status, answer),
    }
}

/// A `PutRestApi` answer carrying import warnings.
fn with_warnings(body: Bytes, warnings: &[String]) -> Bytes {
    let mut document = json(&body);
    if !document.is_object() {
        return body;
    }
    document["warnings"] = serde_json::json!(warnings);
    Bytes::from(document.to_string())
}

/// `GetFunction` for a caller not allowed `lambda:ListTags`: no `Tags`.
// https://docs.aws.amazon.com/lambda/latest/api/API_GetFunction.html
fn without_tags(body: Bytes) -> Bytes {
    let mut document = json(&body);
    match document.as_object_mut() {
        Some(object) => {
            object.remove("Tags");
            Bytes::from(document.to_string())
        }
        None => body,
    }
}

/// Reports `Pending` / `InProgress` where moto says `Active` /
/// `Successful`, and `Inactive` for an idle function when asked to; with
/// the state it reported instead of moto's, if any.
fn rewrite_state(
    shared: &Shared,
    behaviours: &Behaviours,
    call: &Call,
    body: Bytes,
) -> (Bytes, Option<&'static str>) {
    let named = match call.operation.as_str() {
        "CreateFunction" => json(&body)["FunctionName"].as_str().map(str::to_string),
        "GetFunction"
        | "GetFunctionConfiguration"
        | "UpdateFunctionCode"
        | "UpdateFunctionConfiguration" => call.function.clone(),
        _ => None,
    };
    let latest = call.qualifier.as_deref().is_none_or(|q| q == "$LATEST");
    let Some(name) = named.filter(|_| latest) else {
        return (body, None);
    };
    let (busy, update_failure, creation_failure) = {
        let world = lock(&shared.world);
        let now = Instant::now();
        (
            world.busy(&name, now),
            world.update_failure(&name, now),
            world.creation_failure(&name, now),
        )
    };
    let reads = matches!(
        call.operation.as_str(),
        "GetFunction" | "GetFunctionConfiguration"
    );
    if busy.is_none()
        && update_failure.is_none()
        && creation_failure.is_none()
        && !(behaviours.inactive_when_idle && reads)
    {
        return (body, None);
    }
    let mut document = json(&body);
    let config = if call.operation == "GetFunction" {
        &mut document["Configuration"]
    } else {
        &mut document
    };
    if !config.is_object() {
        return (body, None);
    }
    let reported = match busy {
        // https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
        None if creation_failure.is_some() => {
            let code = creation_failure.unwrap_or_default();
            config["State"] = "Failed".into();
            config["StateReasonCode"] = code.clone().into();
            config["StateReason"] = format!("The function could not be created ({code}).").into();
            "Failed"
        }
        None if update_failure.is_some() => {
            let code = update_failure.unwrap_or_default();
            config["LastUpdateStatus"] = "Failed".into();
            config["LastUpdateStatusReasonCode"] = code.clone().into();
            config["LastUpdateStatusReason"] =
                format!("The update could not be applied ({code}).").into();
            "Failed"
        }
        None => {
            config["State"] = "Inactive".into();
            config["StateReason"] = "The function is inactive.".into();
            config["StateReasonCode"] = "Idle".into();
            "Inactive"
        }
        Some(Busy::Pending) => {
            config["State"] = "Pending".into();
            config["StateReason"] = "The function is being created.".into();
            config["StateReasonCode"] = "Creating".into();
            "Pending"
        }
        Some(Busy::InProgress) => {
            config["LastUpdateStatus"] = "InProgress".into();
            config["LastUpdateStatusReason"] = "The function is being updated.".into();
            "InProgress"
        }
    };
    (Bytes::from(document.to_string()), Some(reported))
}

async fn forward(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &hyper::HeaderMap,
    body: Bytes,
) -> Result<(u16, Vec<(String, String)>, Bytes), String> {
    let uri = if query.is_empty() {
        format!("{}{path}", shared.upstream)
    } else {
        format!("{}{path}?{query}", shared.upstream)
    };
    let mut request = Request::builder().method(method.clone()).uri(uri);
    // The body may have been rewritten for moto: its length is the body's.
    for (name, value) in headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
    let response = shared
        .client
        .request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, headers, body))
}

/// The region of a request, from its SigV4 scope.
fn region_of(headers: &hyper::HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').nth(2))
        .unwrap_or("us-east-1")
        .to_string()
}

async fn invoke(
    shared: &Shared,
    call: &Call,
    headers: &hyper::HeaderMap,
    payload: Bytes,
) -> Answer {
    if payload.len() > PAYLOAD_LIMIT {
        return aws_error(
            "lambda",
            413,
            "RequestTooLargeException",
            &format!(
                "Request must be smaller than {PAYLOAD_LIMIT} bytes for the InvokeFunction operation"
            ),
        );
    }
    let Some(function) = &call.function else {
        return aws_error(
            "lambda",
            400,
            "InvalidParameterValueException",
            "no function named",
        );
    };
    let path = format!("/2015-03-31/functions/{function}");
    let query = call
        .qualifier
        .as_ref()
        .map(|q| format!("Qualifier={q}"))
        .unwrap_or_default();
    let mut read_headers = headers.clone();
    read_headers.remove("content-length");
    read_headers.remove("content-type");
    let found = forward(
        shared,
        &Method::GET,
        &path,
        &query,
        &read_headers,
        Bytes::new(),
    )
    .await;
    let (status, answer_headers, body) = match found {
        Ok(found) => found,
        Err(error) => return aws_error("lambda", 502, "ServiceException", &error),
    };
    if status != 200 {
        return build(status, &answer_headers, body);
    }
    let region = region_of(headers);
    let Some(version) = Version::from_get_function(&json(&body), &region) else {
        return aws_error(
            "lambda",
            500,
            "ServiceException",
            "moto's GetFunction answer is incomplete",
        );
    };
    let zip = lock(&shared.world).code(&version.code_sha256);
    let Some(zip) = zip else {
        return aws_error(
            "lambda",
            500,
            "ServiceException",
            &format!(
                "the simulator never saw the code with CodeSha256 {} (was it uploaded before the simulator started?)",
                version.code_sha256
            ),
        );
    };
    let answer = match shared.invoker.invoke(&version, &zip, payload).await {
        Ok(answer) => answer,
        Err(error) => return aws_error("lambda", 502, "ServiceException", &error),
    };
    write_logs(shared, headers, &version, &answer).await;
    let tail = headers
        .get("x-amz-log-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("Tail"));
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", &answer.request_id)
        .header("x-amz-executed-version", &answer.executed_version);
    if let Some(error) = answer.function_error {
        response = response.header("x-amz-function-error", error);
    }
    if tail {
        response = response.header("x-amz-log-result", answer.log_tail());
    }
    response.body(full(answer.payload)).unwrap_or_default()
}

/// Puts the invocation's log into the function's log group, as Lambda
/// does (best effort: `slx logs` then shows what ran).
async fn write_logs(
    shared: &Shared,
    headers: &hyper::HeaderMap,
    version: &Version,
    answer: &crate::invoke::Answer,
) {
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return;
    };
    let mut logs_headers = hyper::HeaderMap::new();
    if let Ok(value) = auth.replace("/lambda/", "/logs/").parse() {
        logs_headers.insert("authorization", value);
    }
    if let Ok(value) = "application/x-amz-json-1.1".parse() {
        logs_headers.insert("content-type", value);
    }
    let group = format!("/aws/lambda/{}", version.function_name);
    let stream = log_stream(&version.version);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let calls = [
        (
            "CreateLogGroup",
            serde_json::json!({ "logGroupName": group }),
        ),
        (
            "CreateLogStream",
            serde_json::json!({ "logGroupName": group, "logStreamName": stream }),
        ),
        (
            "PutLogEvents",
            serde_json::json!({
                "logGroupName": group,
                "logStreamName": stream,
                "logEvents": answer.log.iter().map(|line| serde_json::json!({ "timestamp": now, "message": line })).collect::<Vec<_>>(),
            }),
        ),
    ];
    for (operation, body) in calls {
        let mut headers = logs_headers.clone();
        if let Ok(value) = format!("Logs_20140328.{operation}").parse() {
            headers.insert("x-amz-target", value);
        }
        let _ = forward(
            shared,
            &Method::POST,
            "/",
            "",
            &headers,
            Bytes::from(body.to_string()),
        )
        .await;
    }
}

fn control_api(shared: &Shared, method: &Method, path: &str, body: &[u8]) -> Answer {
    let reply = |status: StatusCode, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(full(body))
            .unwrap_or_default()
    };
    match (method.as_str(), path) {
        ("GET", "events") => reply(
            StatusCode::OK,
            serde_json::to_string(&*lock(&shared.events)).unwrap_or_default(),
        ),
        ("GET", "interfaces") => reply(
            StatusCode::OK,
            serde_json::to_string(
                &lock(&shared.world)
                    .interfaces
                    .described(&[], Instant::now()),
            )
            .unwrap_or_default(),
        ),
        ("GET", "behaviours") => reply(
            StatusCode::OK,
            serde_json::to_string(&*lock(&shared.behaviours)).unwrap_or_default(),
        ),
        ("POST", "behaviours") => match serde_json::from_slice::<Behaviours>(body) {
            Ok(behaviours) => {
                shared.set_behaviours(behaviours);
                reply(StatusCode::OK, "{}".into())
            }
            Err(error) => reply(
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "error": error.to_string() }).to_string(),
            ),
        },
        ("GET", code) if code.starts_with("code/") => {
            let sha = code["code/".len()..].replace('-', "+").replace('_', "/");
            match lock(&shared.world).code(&sha) {
                Some(zip) => Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "application/zip")
                    .body(full(zip))
                    .unwrap_or_default(),
                None => reply(StatusCode::NOT_FOUND, "{}".into()),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, "{}".into()),
    }
}

/// Lambda's `GetFunction` answers `Code.Location`, a URL the version's zip
/// can be downloaded from for ten minutes. moto's points at an S3 host
/// that does not exist here; the simulator serves the zips it kept, so
/// the location points at itself (`/_sim/code/<CodeSha256, URL-safe>`).
// https://docs.aws.amazon.com/lambda/latest/api/API_FunctionCodeLocation.html
fn with_code_location(headers: &hyper::HeaderMap, answer: Bytes) -> Bytes {
    let mut document = json(&answer);
    let (Some(host), Some(sha)) = (
        headers.get("host").and_then(|h| h.to_str().ok()),
        document["Configuration"]["CodeSha256"].as_str(),
    ) else {
        return answer;
    };
    let location = format!("http://{host}/_sim/code/{}", url_safe(sha));
    document["Code"] = serde_json::json!({ "RepositoryType": "S3", "Location": location });
    Bytes::from(document.to_string())
}

fn url_safe(sha: &str) -> String {
    sha.replace('+', "-").replace('/', "_")
}

/// moto's events, read through moto's own `FilterLogEvents` with the
/// caller's signature headers (moto picks the region from them).
struct MotoEvents {
    shared: Arc<Shared>,
    headers: hyper::HeaderMap,
}

impl live_tail::EventSource for MotoEvents {
    async fn events(&self, group: String, pattern: Option<String>) -> Vec<serde_json::Value> {
        let mut headers = hyper::HeaderMap::new();
        for name in ["authorization", "x-amz-date", "x-amz-security-token"] {
            if let Some(value) = self.headers.get(name) {
                headers.insert(name, value.clone());
            }
        }
        headers.insert(
            "content-type",
            hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        headers.insert(
            "x-amz-target",
            hyper::header::HeaderValue::from_static("Logs_20140328.FilterLogEvents"),
        );
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut request = serde_json::json!({ "logGroupName": group });
            if let Some(pattern) = &pattern {
                request["filterPattern"] = pattern.clone().into();
            }
            if let Some(token) = &token {
                request["nextToken"] = token.clone().into();
            }
            let Ok((200, _, body)) = forward(
                &self.shared,
                &Method::POST,
                "/",
                "",
                &headers,
                Bytes::from(request.to_string()),
            )
            .await
            else {
                return events;
            };
            let page = json(&body);
            events.extend(page["events"].as_array().cloned().unwrap_or_default());
            match page["nextToken"].as_str() {
                Some(next) if token.as_deref() != Some(next) => token = Some(next.to_string()),
                _ => return events,
            }
        }
    }
}

/// `StartLiveTail`: moto checks the request (an unknown group is its
/// error, passed on); the session itself is the simulator's.
async fn live_tail(
    shared: &Arc<Shared>,
    behaviours: &Behaviours,
    call: &Call,
    headers: &hyper::HeaderMap,
    body: Bytes,
) -> Answer {
    let checked = forward(shared, &Method::POST, "/", "", headers, body.clone()).await;
    match checked {
        Ok((200, _, _)) => {}
        Ok((status, answer_headers, answer)) => {
            shared.record(call, status, "forwarded");
            return build(status, &answer_headers, answer);
        }
        Err(reason) => {
            shared.record(call, 502, "forwarded");
            return aws_error("logs", 502, "ServiceUnavailable", &reason);
        }
    }
    let source = MotoEvents {
        shared: shared.clone(),
        headers: headers.clone(),
    };
    let frames = live_tail::start(
        source,
        &json(&body),
        behaviours.scaled(behaviours.live_tail_session_s),
    )
    .await;
    shared.record(call, 200, "live tail");
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/vnd.amazon.eventstream")
        .header("x-amzn-requestid", uuid::Uuid::new_v4().to_string())
        .body(AnswerBody::new(frames))
        .unwrap_or_default()
}
