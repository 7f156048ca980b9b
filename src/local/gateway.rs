//! The local API Gateway of `slx dev`: HTTP on 127.0.0.1 in, API Gateway
//! REST proxy events out to the handler pool, and the proxy responses back
//! as HTTP, with API Gateway's own answers for what never reaches the
//! function (403 for no route, 504 for a timeout, 502 for a crash or a
//! malformed response, 413 and 431 beyond API Gateway's and Lambda's
//! quotas: `quotas`).

use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;

use super::pool::{Outcome, Pool};
use super::quotas;
use super::runtime_api::Answer;
use crate::binary_media::BinaryMediaTypes;
use crate::contract::proxy::{self, GatewayContext, HttpRequest, HttpResponse, MatchedRoute};
use crate::contract::routes;
use std::collections::BTreeMap;

use crate::config::{Cors, Method as RouteMethod, Route};

/// One line per request, for the console.
pub type AccessLog = Arc<dyn Fn(&AccessEntry) + Send + Sync>;

#[derive(Debug, Clone)]
pub struct AccessEntry {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub millis: u128,
    pub request_id: String,
    /// Why API Gateway answered instead of the function, if it did.
    pub note: Option<String>,
}

/// What API Gateway does by itself for the stage: CORS preflights of
/// these paths (with the methods each allows) and its own errors'
/// headers, and which bodies it passes as binary.
#[derive(Debug, Clone, Default)]
pub struct GatewayRules {
    pub cors: Option<Cors>,
    /// Each path with a preflight mock and the methods it allows.
    pub preflights: BTreeMap<String, String>,
    /// The routes with the mocks as `OPTIONS` routes, matched as API
    /// Gateway matches a preflight (built once, not per request).
    routes: Vec<Route>,
    pub binary: BinaryMediaTypes,
    /// The key routes with `api_key = true` accept in `x-api-key` (the
    /// deployed stage accepts the keys of its usage plan instead).
    pub api_key: String,
    pub authorizers: Vec<crate::config::Authorizer>,
    /// How Cognito tokens are checked (`--jwks`, `--trust-jwt`); `None`:
    /// they cannot be.
    pub signatures: Option<super::jwt::Signatures>,
    /// The stage's custom domain, when it maps the API under a base
    /// path: slx dev then serves under it, as the domain does, and sends
    /// the events API Gateway sends for calls through it.
    pub mapped: Option<proxy::MappedDomain>,
}

impl GatewayRules {
    pub fn of(
        project: &crate::config::Project,
        api_key: &str,
        signatures: Option<&super::jwt::Signatures>,
    ) -> GatewayRules {
        let preflights = crate::cors::preflight_paths(project.cors.as_ref(), &project.routes);
        let mocks = preflights.keys().filter_map(|path| {
            Some(Route {
                method: RouteMethod::Options,
                path: crate::config::parse_path(path).ok()?,
                handler: None,
                cors: true,
                api_key: false,
                auth: None,
                span: 0..0,
            })
        });
        GatewayRules {
            cors: project.cors.clone(),
            routes: project.routes.iter().cloned().chain(mocks).collect(),
            preflights,
            binary: project.binary_media(),
            api_key: api_key.to_string(),
            authorizers: project.authorizers.clone(),
            signatures: signatures.cloned(),
            mapped: proxy::MappedDomain::of(project.domain.as_ref()),
        }
    }
}

/// The function authorizers slx dev runs: a pool per authorizer, the
/// stage's ARNs for their events, and their verdicts for each `ttl`.
#[derive(Default)]
pub struct FunctionAuthorizers {
    pools: RwLock<BTreeMap<String, Pool>>,
    arns: RwLock<Option<crate::names::StageArns>>,
    /// Those whose function takes the route: cached as a deploy caches
    /// them (`Authorizer::caching`).
    by_route: RwLock<std::collections::BTreeSet<String>>,
    verdicts: std::sync::Mutex<super::authorizer::VerdictCache>,
}

impl FunctionAuthorizers {
    /// Serves the authorizers with `pools` from now on (a reload).
    pub(crate) fn set(
        &self,
        pools: BTreeMap<String, Pool>,
        arns: crate::names::StageArns,
        by_route: std::collections::BTreeSet<String>,
    ) {
        *self.pools.write().expect("lock poisoned") = pools;
        *self.arns.write().expect("lock poisoned") = Some(arns);
        *self.by_route.write().expect("lock poisoned") = by_route;
        self.verdicts.lock().expect("lock poisoned").clear();
    }
}

pub struct GatewayState {
    pub routes: RwLock<Vec<Route>>,
    pub rules: RwLock<GatewayRules>,
    pub authorizers: FunctionAuthorizers,
    pub pool: RwLock<Pool>,
    pub stage: String,
    pub access_log: AccessLog,
}

pub fn router(state: Arc<GatewayState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

fn gateway_answer(status: u16, message: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-amzn-errortype".into(), "slx-local".into()),
        ],
        body: serde_json::json!({ "message": message })
            .to_string()
            .into_bytes(),
        base64: false,
    }
}

/// What API Gateway answers for an invocation's outcome, and a note when
/// the answer did not come from the function. Shared by `slx dev` and
/// `slx invoke --local`.
/// `decode_base64`: whether a base64-encoded answer is decoded (API
/// Gateway's binary media rule for the client's `Accept`; always, when
/// the function is invoked directly).
pub fn answer_for(outcome: Outcome, decode_base64: bool) -> (HttpResponse, Option<String>) {
    match outcome {
        Outcome::Answered(Answer::Response(payload)) => {
            match proxy::decode_response_as(&payload, decode_base64) {
                Ok(decoded) => (decoded, None),
                Err(error) => (
                    gateway_answer(502, "Internal server error"),
                    Some(error.to_string()),
                ),
            }
        }
        Outcome::Answered(Answer::Error { error_type, body }) => (
            gateway_answer(502, "Internal server error"),
            Some(format!(
                "function error {}",
                Answer::error_line(&error_type, &body)
            )),
        ),
        Outcome::TimedOut => (
            gateway_answer(504, "Endpoint request timed out"),
            Some("the function timed out; its process was stopped".into()),
        ),
        Outcome::Crashed(reason) => (
            gateway_answer(502, "Internal server error"),
            Some(format!(
                "the function crashed: {reason}; a new process serves the next request"
            )),
        ),
    }
}

/// API Gateway's answer when the function failed (a function error).
pub fn function_failed() -> HttpResponse {
    gateway_answer(502, "Internal server error")
}

/// The answer to a request no route serves (path or method).
pub fn no_route() -> HttpResponse {
    gateway_answer(403, "Missing Authentication Token")
}

fn to_http(answer: HttpResponse) -> Response {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

async fn handle(
    State(state): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = request.into_parts();
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    let mapped = state.rules.read().expect("lock poisoned").mapped.clone();
    // Under a mapped domain, only paths under its base path reach the
    // API, which routes what follows it.
    let path = match &mapped {
        None => uri.path().to_string(),
        Some(mapped) => match under_base_path(uri.path(), &mapped.prefix()) {
            Some(path) => path,
            None => {
                let note = format!(
                    "not under {}: the stage's domain {} maps the API there",
                    mapped.prefix(),
                    mapped.domain
                );
                let answer = gateway_answer(403, "Forbidden");
                return logged(
                    &state,
                    &method,
                    &uri,
                    started,
                    request_id,
                    Some(note),
                    answer,
                );
            }
        },
    };
    let origin = headers
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // What the developer should know about a request the function
    // served (not API Gateway's own answer).
    let mut hints: Vec<String> = Vec::new();
    let preflight = match method {
        Method::OPTIONS => preflight(&state, &path, origin.as_deref()),
        _ => None,
    };
    let (mut answer, note) = match preflight {
        Some(answer) => (
            answer,
            Some("CORS preflight, answered by API Gateway".into()),
        ),
        None => match admit(&method, &uri, &headers, body).await {
            Err(refused) => refused,
            Ok(body) => {
                let request = HttpRequest {
                    method: method.to_string(),
                    path: path.clone(),
                    query: proxy::parse_query(uri.query().unwrap_or("")),
                    headers: headers
                        .iter()
                        .map(|(n, v)| {
                            (
                                n.as_str().to_string(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect(),
                    body,
                    source_ip: peer.ip().to_string(),
                };
                let binary = state.rules.read().expect("lock poisoned").binary.clone();
                if proxy::body_damaged(&request, &binary) {
                    hints.push(damaged_body_hint(&headers));
                }
                let accept = headers.get("accept").and_then(|v| v.to_str().ok());
                let decoded = binary.answer_is_decoded(accept);
                let served = serve(&state, request, &request_id, decoded).await;
                if !decoded && served.1.is_none() && served.0.base64 {
                    hints.push(format!(
                        "the function's answer is base64-encoded, and API Gateway passes it on as base64 text: the request's Accept ({}) is no binary media type; send `Accept: {}`, or add it to [app] binary_media_types",
                        accept.unwrap_or("none"),
                        served.0.header("content-type").unwrap_or("its type"),
                    ));
                }
                served
            }
        },
    };
    // API Gateway's own errors carry its gateway responses' headers.
    if note.is_some() && answer.status >= 400 {
        let rules = state.rules.read().expect("lock poisoned");
        if let Some(cors) = &rules.cors {
            answer
                .headers
                .extend(crate::cors::gateway_error_headers(cors, origin.as_deref()));
        }
    }
    let note = match (note, hints.is_empty()) {
        (note, true) => note,
        (Some(note), false) => Some(format!("{note}; {}", hints.join("; "))),
        (None, false) => Some(hints.join("; ")),
    };
    logged(&state, &method, &uri, started, request_id, note, answer)
}

/// `answer` as the HTTP response, written to the access log first (the
/// path as the client called it, under a mapped domain's base path).
fn logged(
    state: &GatewayState,
    method: &Method,
    uri: &Uri,
    started: Instant,
    request_id: String,
    note: Option<String>,
    answer: HttpResponse,
) -> Response {
    let response = to_http(answer);
    (state.access_log)(&AccessEntry {
        method: method.to_string(),
        path: uri.path().to_string(),
        status: response.status().as_u16(),
        millis: started.elapsed().as_millis(),
        request_id,
        note,
    });
    response
}

/// API Gateway's answer to a CORS preflight (its mock integration), when
/// the resource `path` reaches has one.
fn preflight(state: &GatewayState, path: &str, origin: Option<&str>) -> Option<HttpResponse> {
    let gateway = state.rules.read().expect("lock poisoned");
    let cors = gateway.cors.as_ref()?;
    let matched = routes::find(&gateway.routes, "OPTIONS", path)?;
    let methods = gateway.preflights.get(&matched.resource)?;
    if matched.route.method != RouteMethod::Options || matched.route.handler.is_some() {
        return None;
    }
    Some(HttpResponse {
        status: 204,
        headers: std::iter::once(("content-type".to_string(), "application/json".to_string()))
            .chain(crate::cors::preflight_headers(cors, methods, origin))
            .collect(),
        body: Vec::new(),
        base64: false,
    })
}

/// What API Gateway learnt of an authorized caller, for the event's
/// `requestContext`.
struct Granted {
    /// `requestContext.authorizer` (a Cognito token's `claims`).
    authorizer: Option<serde_json::Value>,
    /// `requestContext.identity.accessKey` of a SigV4-signed call.
    access_key: Option<String>,
}

impl Granted {
    fn describe(self, context: &mut serde_json::Value) {
        if let Some(authorizer) = self.authorizer {
            context["authorizer"] = authorizer;
        }
        if let Some(key) = self.access_key {
            context["identity"]["accessKey"] = serde_json::json!(key);
        }
    }
}

fn header_of<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// API Gateway's verdict on the caller of a route with `auth`: what it
/// passes on, or its refusal.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html
async fn authorize(
    state: &GatewayState,
    rule: &crate::config::RouteAuth,
    request: &HttpRequest,
    resource: &str,
    request_id: &str,
) -> Result<Granted, Refusal> {
    use crate::config::RouteAuth;
    let RouteAuth::Authorizer { name, scopes } = rule else {
        return sigv4_caller(request);
    };
    let (authorizer, signatures) = {
        let rules = state.rules.read().expect("lock poisoned");
        let found = rules.authorizers.iter().find(|a| a.name == *name).cloned();
        (found, rules.signatures.clone())
    };
    let Some(authorizer) = authorizer else {
        return Err((
            gateway_answer(500, "Internal server error"),
            Some(format!("no authorizer `{name}`")),
        ));
    };
    match authorizer.function() {
        Some((_, source)) => {
            ask_function(state, name, &source, request, resource, request_id).await
        }
        None => cognito_caller(&authorizer, scopes, signatures.as_ref(), request),
    }
}

/// A route with `auth = "iam"`: slx dev cannot check a SigV4 signature,
/// so it takes any signed call, and passes on its access key.
fn sigv4_caller(request: &HttpRequest) -> Result<Granted, Refusal> {
    let signed = header_of(request, "authorization")
        .and_then(|value| value.strip_prefix("AWS4-HMAC-SHA256 "));
    let Some(signed) = signed else {
        return Err((
            gateway_answer(403, "Missing Authentication Token"),
            Some("the route has auth = \"iam\": sign the request with SigV4 (slx dev does not verify the signature)".into()),
        ));
    };
    let access_key = signed
        .split("Credential=")
        .nth(1)
        .and_then(|scope| scope.split('/').next())
        .map(str::to_string);
    Ok(Granted {
        authorizer: None,
        access_key,
    })
}

/// A Cognito authorizer's verdict: the token's claims, or a 401.
fn cognito_caller(
    authorizer: &crate::config::Authorizer,
    scopes: &[String],
    signatures: Option<&super::jwt::Signatures>,
    request: &HttpRequest,
) -> Result<Granted, Refusal> {
    let name = &authorizer.name;
    let unauthorized = |why: String| (gateway_answer(401, "Unauthorized"), Some(why));
    let Some(token) = header_of(request, &authorizer.header) else {
        return Err(unauthorized(format!(
            "no `{}` header: authorizer `{name}` takes a Cognito token there",
            authorizer.header
        )));
    };
    let Some(signatures) = signatures else {
        return Err(unauthorized(format!(
            "slx dev cannot check tokens of authorizer `{name}`: start it with `--jwks FILE` (the pool's JWKS) or `--trust-jwt`"
        )));
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match super::jwt::check(token, signatures, authorizer.user_pools(), scopes, now) {
        Ok(claims) => Ok(Granted {
            authorizer: Some(serde_json::json!({ "claims": claims })),
            access_key: None,
        }),
        Err(why) => Err(unauthorized(format!(
            "authorizer `{name}` refused the token: {why}"
        ))),
    }
}

/// API Gateway's verdict from function authorizer `name` on a call: its
/// cached answer for the token, or a new one from running it.
async fn ask_function(
    state: &GatewayState,
    name: &str,
    source: &crate::config::AuthorizerSource,
    request: &HttpRequest,
    resource: &str,
    request_id: &str,
) -> Result<Granted, Refusal> {
    use super::authorizer::judge;
    use crate::contract::source_events::{AuthorizedCall, Origin, authorizer_event};
    // Without its identity source, API Gateway answers 401 itself.
    let Some(token) = header_of(request, &source.header).map(str::to_string) else {
        return Err((
            gateway_answer(401, "Unauthorized"),
            Some(format!(
                "no `{}` header: authorizer `{name}` reads it",
                source.header
            )),
        ));
    };
    let arns = state
        .authorizers
        .arns
        .read()
        .expect("lock poisoned")
        .clone();
    let pool = state
        .authorizers
        .pools
        .read()
        .expect("lock poisoned")
        .get(name)
        .cloned();
    let (Some(arns), Some(pool)) = (arns, pool) else {
        return Err((
            gateway_answer(500, "Internal server error"),
            Some(format!("authorizer `{name}` is not running")),
        ));
    };
    let call = AuthorizedCall {
        api_id: "local".into(),
        method: request.method.clone(),
        path: request.path.clone(),
        resource: resource.to_string(),
        headers: request.headers.clone(),
        query: request.query.clone(),
        source_ip: request.source_ip.clone(),
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let origin = Origin {
        arns: &arns,
        now_ms,
        id: request_id,
    };
    let event = authorizer_event(source, &call, &origin);
    let method_arn = event["methodArn"].as_str().unwrap_or_default().to_string();
    let by_route = state
        .authorizers
        .by_route
        .read()
        .expect("lock poisoned")
        .contains(name);
    let caching = source.caching(by_route);
    let ttl = std::time::Duration::from_secs(u64::from(caching.ttl));
    // The cache key: the identity sources API Gateway would use.
    let key = if caching.per_route {
        format!("{token}\n{} {resource}", request.method)
    } else {
        token.clone()
    };
    let cached = state
        .authorizers
        .verdicts
        .lock()
        .expect("lock poisoned")
        .get(name, &key, ttl, Instant::now());
    let answer = match cached {
        Some(answer) => answer,
        None => {
            let payload = serde_json::to_vec(&event).unwrap_or_default();
            let answer = match pool.invoke(&format!("{request_id}-auth"), payload).await {
                Outcome::Answered(Answer::Response(body)) => {
                    serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)
                }
                Outcome::Answered(Answer::Error { body, .. }) => {
                    let error: serde_json::Value =
                        serde_json::from_slice(&body).unwrap_or_default();
                    return Err(match error["errorMessage"].as_str() {
                        // The one message API Gateway answers 401 for.
                        Some("Unauthorized") => (
                            gateway_answer(401, "Unauthorized"),
                            Some(format!("authorizer `{name}` answered Unauthorized")),
                        ),
                        other => (
                            gateway_answer(500, "Internal server error"),
                            Some(format!(
                                "authorizer `{name}` failed: {}",
                                other.unwrap_or("no message")
                            )),
                        ),
                    });
                }
                Outcome::TimedOut | Outcome::Crashed(_) => {
                    return Err((
                        gateway_answer(500, "Internal server error"),
                        Some(format!("authorizer `{name}` did not answer")),
                    ));
                }
            };
            if ttl > std::time::Duration::ZERO {
                state
                    .authorizers
                    .verdicts
                    .lock()
                    .expect("lock poisoned")
                    .keep(name, &key, answer.clone(), Instant::now());
            }
            answer
        }
    };
    match judge(&answer, &method_arn) {
        Ok(context) => Ok(Granted {
            authorizer: Some(context),
            access_key: None,
        }),
        Err(refused) => {
            let (status, message) = refused.answer();
            let why = match refused {
                super::authorizer::Refused::Malformed(why) => why,
                _ => format!("authorizer `{name}` refused the call"),
            };
            Err((gateway_answer(status, message), Some(why)))
        }
    }
}

/// Why a body that is not UTF-8 reaches the function damaged, and the fix.
fn damaged_body_hint(headers: &HeaderMap) -> String {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.split(';').next().unwrap_or(t).trim().to_string());
    match content_type {
        Some(t) => format!(
            "the body is not UTF-8 text and {t} is no binary media type: API Gateway passes it as text and damages it; add `{t}` to [app] binary_media_types"
        ),
        None => "the body is not UTF-8 text and has no Content-Type: API Gateway passes it as text and damages it; send its Content-Type and list it in [app] binary_media_types".into(),
    }
}

/// An answer API Gateway gives itself, and why (for the console).
type Refusal = (HttpResponse, Option<String>);

/// Checks a request against API Gateway's and Lambda's quotas and reads
/// its body; or the answer for a request beyond them. An oversized body
/// is drained (up to `quotas::DRAIN_BYTES`) so the client, still sending,
/// gets the answer; unless it waits for `100 Continue`, which it then
/// never gets, and so sends nothing.
async fn admit(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Vec<u8>, Refusal> {
    let expects_continue = headers
        .get(axum::http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let refuse = |body: Body, status, message, note: String| async move {
        if !expects_continue {
            let _ = quotas::read_limited(body, 0, true).await;
        }
        Err((gateway_answer(status, message), Some(note)))
    };
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let head = quotas::request_line_and_header_values(
        method.as_str(),
        target,
        headers.values().map(HeaderValue::as_bytes),
    );
    if head > quotas::MAX_REQUEST_LINE_AND_HEADER_VALUES {
        return refuse(
            body,
            431,
            "Request Header Fields Too Large",
            format!(
                "the request line and header values are {head} bytes; API Gateway accepts {}",
                quotas::MAX_REQUEST_LINE_AND_HEADER_VALUES
            ),
        )
        .await;
    }
    let too_large = |size: String| {
        format!(
            "the body is {size} bytes; a Lambda event, body included, is at most {} bytes",
            quotas::MAX_EVENT_BYTES
        )
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if let Some(declared) = declared.filter(|n| *n > quotas::MAX_EVENT_BYTES) {
        return refuse(
            body,
            413,
            "Request Too Large",
            too_large(declared.to_string()),
        )
        .await;
    }
    match quotas::read_limited(body, quotas::MAX_EVENT_BYTES, true).await {
        Ok(bytes) => Ok(bytes),
        Err(quotas::Unread::TooLarge { seen, complete }) => {
            let size = if complete {
                seen.to_string()
            } else {
                format!("more than {seen}")
            };
            Err((
                gateway_answer(413, "Request Too Large"),
                Some(too_large(size)),
            ))
        }
        Err(quotas::Unread::Broken(error)) => Err((
            gateway_answer(400, "Bad Request"),
            Some(format!("the request body ended early: {error}")),
        )),
    }
}

/// What of `path` the API routes under base path `prefix` (`/v1`), if
/// the path is under it: `/v1/health` → `/health`, `/v1` → `/`.
fn under_base_path(path: &str, prefix: &str) -> Option<String> {
    let rest = path.strip_prefix(prefix)?;
    match rest {
        "" => Some("/".into()),
        _ if rest.starts_with('/') => Some(rest.to_string()),
        _ => None,
    }
}

/// Routes an admitted request and invokes the function with its event.
async fn serve(
    state: &GatewayState,
    request: HttpRequest,
    request_id: &str,
    decode_base64: bool,
) -> Refusal {
    let matched = {
        let routes = state.routes.read().expect("lock poisoned");
        let rules = state.rules.read().expect("lock poisoned");
        routes::find(&routes, &request.method, &request.path).map(|matched| {
            let keyed = matched.route.api_key;
            let auth = matched.route.auth.clone();
            (
                MatchedRoute::new(matched, &rules.binary),
                keyed.then(|| rules.api_key.clone()),
                auth,
            )
        })
    };
    // API Gateway's answer to a path or method it has no route for.
    let Some((route, key, auth)) = matched else {
        return (no_route(), Some("no route".to_string()));
    };
    // Who the caller is, before anything else (API keys included).
    let granted = match auth {
        Some(rule) => match authorize(state, &rule, &request, &route.resource, request_id).await {
            Ok(granted) => Some(granted),
            Err(refusal) => return refusal,
        },
        None => None,
    };
    // A route that requires a key: API Gateway refuses the call before
    // the function runs.
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-key-source.html
    if let Some(key) = key {
        let sent = request
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("x-api-key"))
            .map(|(_, value)| value.as_str());
        if sent != Some(key.as_str()) {
            let why = match sent {
                None => {
                    "no API key: the route has api_key = true; send the key slx dev printed as `x-api-key`"
                }
                Some(_) => "not a valid API key: send the key slx dev printed as `x-api-key`",
            };
            return (gateway_answer(403, "Forbidden"), Some(why.to_string()));
        }
    }
    let context = GatewayContext {
        stage: state.stage.clone(),
        request_id: request_id.to_string(),
        account_id: "000000000000".into(),
        api_id: "local".into(),
        time_epoch_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        mapped: state.rules.read().expect("lock poisoned").mapped.clone(),
    };
    let mut event = proxy::rest_event(&request, &route, &context);
    if let Some(granted) = granted {
        granted.describe(&mut event["requestContext"]);
    }
    let payload = serde_json::to_vec(&event).unwrap_or_default();
    if payload.len() > quotas::MAX_EVENT_BYTES {
        return (
            gateway_answer(413, "Request Too Large"),
            Some(format!(
                "the Lambda event is {} bytes (the body of {} bytes{} plus headers and context); Lambda accepts at most {}",
                payload.len(),
                request.body.len(),
                if event["isBase64Encoded"] == true {
                    ", base64-encoded"
                } else {
                    ""
                },
                quotas::MAX_EVENT_BYTES
            )),
        );
    }
    let pool = state.pool.read().expect("lock poisoned").clone();
    answer_for(pool.invoke(request_id, payload).await, decode_base64)
}
