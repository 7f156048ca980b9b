//! Checks, before compiling, that every handler slx.toml names (and the
//! `[app] router` function) exists in the app crate's `lib.rs` with a
//! signature the generated code can call, and works out how to call it.
//!
//! Reads Rust source with `syn`; never runs the compiler. A problem is
//! reported per route, naming the functions that do exist.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use quote::ToTokens;
use syn::{FnArg, GenericArgument, Item, ItemFn, Pat, PathArguments, ReturnType, Type};

use crate::config::{EventHandler, EventSource, Route, Segment};

/// What one handler parameter receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The path parameter of the same name, parsed with `FromStr`.
    PathParam(String),
    /// The query string, deserialised (parameter named `query`).
    Query,
    /// The request headers (`HeaderMap`).
    Headers,
    /// The whole request, by value or by reference.
    Request { by_ref: bool },
    /// The JSON body, deserialised into the named type.
    JsonBody(String),
    /// The body's bytes as they are (`Vec<u8>`): an upload, an image.
    Bytes,
    /// What the route's authorizer says of the caller (`caller`):
    /// a Lambda authorizer's context, or a Cognito token's `claims`.
    Caller(String),
    /// The caller as API Gateway identifies it (`identity`): with
    /// `auth = "iam"`, its `userArn`, `accountId`, `caller`.
    Identity(String),
}

/// How the handler's return value becomes a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `()`: 204 No Content.
    Empty,
    /// Any `Serialize` value: 200 with JSON.
    Json,
    /// `(status, value)`: that status with JSON.
    StatusJson,
    /// `Response<B>`: sent as it is.
    Raw,
    /// `Vec<u8>`: 200 with `application/octet-stream`, base64-encoded
    /// for API Gateway.
    Bytes,
}

/// Everything codegen needs to call one handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerCall {
    pub name: String,
    pub is_async: bool,
    pub inputs: Vec<Input>,
    pub output: Output,
    /// Whether the handler returns `Result<_, E>`.
    pub fallible: bool,
}

/// How to build the app's router (`[app] router`) at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterCall {
    pub name: String,
    pub is_async: bool,
    /// Whether it returns `Result<_, E>`: an `Err` stops the cold start.
    pub fallible: bool,
}

/// Which event source an event handler serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Schedule,
    S3,
    Sqs,
    /// A function authorizer: its verdict on one call.
    Authorizer,
}

impl EventKind {
    fn of(source: &EventSource) -> EventKind {
        match source {
            EventSource::Schedule(_) => EventKind::Schedule,
            EventSource::S3(_) => EventKind::S3,
            EventSource::Sqs(_) => EventKind::Sqs,
            EventSource::Authorizer(_) => EventKind::Authorizer,
        }
    }

    /// The named values a handler of this kind may take, per record
    /// (S3), message (SQS) or run (schedule); see docs/handlers.md.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            EventKind::S3 => &["bucket", "key", "size", "kind", "etag", "time"],
            EventKind::Sqs => &["message_id", "receive_count"],
            EventKind::Schedule => &["time", "input"],
            EventKind::Authorizer => &[
                "token",
                "headers",
                "query",
                "method",
                "path",
                "method_arn",
                "source_ip",
            ],
        }
    }

    /// What one call of the handler is about, for messages.
    fn unit(self) -> &'static str {
        match self {
            EventKind::S3 => "object record",
            EventKind::Sqs => "message",
            EventKind::Schedule => "run",
            EventKind::Authorizer => "call",
        }
    }
}

/// What one event-handler parameter receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventInput {
    /// A named value of the record, message or run, deserialised into
    /// `ty` (`&str` and other references are borrowed from an owned one).
    Field {
        name: String,
        ty: String,
        by_ref: bool,
    },
    /// An SQS message's body: JSON into `ty`, or the text itself when
    /// `ty` is `String` (`text`).
    Body {
        ty: String,
        by_ref: bool,
        text: bool,
    },
    /// The whole event as Lambda delivers it (a parameter named `event`).
    Event { ty: String, by_ref: bool },
}

/// Everything codegen needs to run one `[events.NAME]` handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCall {
    /// The table's name: what `SLX_HANDLER` selects.
    pub name: String,
    /// The function of lib.rs.
    pub function: String,
    pub kind: EventKind,
    pub is_async: bool,
    pub inputs: Vec<EventInput>,
    /// Whether it returns `Result<_, E>`.
    pub fallible: bool,
    /// The whole-event form's `Ok` value is the invocation's response
    /// (e.g. an `SqsBatchResponse`); every other form returns nothing.
    pub responds: bool,
}

/// The parameters of an authorizer's function that say which route is
/// called (`event`, the whole event, says it too).
pub const ROUTE_PARAMETERS: [&str; 4] = ["method", "path", "method_arn", "event"];

impl EventCall {
    /// Whether this is a function authorizer whose verdict may differ from
    /// route to route: it takes the method, the path or the method ARN.
    /// API Gateway must then not serve one route's cached verdict to
    /// another.
    pub fn authorizes_by_route(&self) -> bool {
        self.kind == EventKind::Authorizer
            && self.inputs.iter().any(|input| match input {
                EventInput::Field { name, .. } => ROUTE_PARAMETERS.contains(&name.as_str()),
                EventInput::Event { .. } => true,
                EventInput::Body { .. } => false,
            })
    }
}

/// What the generated crate calls: each handler route's function, the
/// router if there is one, and each event handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handlers {
    pub routes: Vec<(Route, HandlerCall)>,
    pub router: Option<RouterCall>,
    pub events: Vec<EventCall>,
}

/// A route whose handler cannot be called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerProblem {
    pub route: String,
    pub handler: String,
    pub problem: String,
    pub help: String,
}

/// Why the handlers could not be checked at all, or which are wrong.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum HandlerError {
    #[error("cannot read the app's handlers in {}", .path.display())]
    #[diagnostic(
        code(slx::build::read_lib),
        help("slx expects the handlers in the app crate's library (src/lib.rs)")
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} does not parse as Rust: {message}", .path.display())]
    #[diagnostic(
        code(slx::build::parse_lib),
        help("fix the syntax error; `cargo check` shows it in detail")
    )]
    Parse { path: PathBuf, message: String },
    #[error("{} of the handlers slx.toml names cannot be called:\n{}", .problems.len(), render(.problems))]
    #[diagnostic(code(slx::build::handler))]
    Unusable { problems: Vec<HandlerProblem> },
}

fn render(problems: &[HandlerProblem]) -> String {
    problems
        .iter()
        .map(|p| {
            format!(
                "  - {} → `{}`: {}\n    help: {}",
                p.route, p.handler, p.problem, p.help
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads `lib` and resolves a `HandlerCall` for each route a handler
/// serves, in order, and the router's call.
pub fn check_file(
    lib: &Path,
    routes: &[Route],
    router: Option<&str>,
    events: &[EventHandler],
) -> Result<Handlers, HandlerError> {
    let source = std::fs::read_to_string(lib).map_err(|source| HandlerError::Read {
        path: lib.to_path_buf(),
        source,
    })?;
    let file = syn::parse_file(&source).map_err(|error| {
        let start = error.span().start();
        HandlerError::Parse {
            path: lib.to_path_buf(),
            message: format!("{error} (line {}, column {})", start.line, start.column + 1),
        }
    })?;
    check(&file, routes, router, events)
}

/// Pure core of `check_file`, on parsed source.
pub fn check(
    file: &syn::File,
    routes: &[Route],
    router: Option<&str>,
    events: &[EventHandler],
) -> Result<Handlers, HandlerError> {
    let functions: BTreeMap<String, &ItemFn> = file
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Fn(function) => Some((function.sig.ident.to_string(), function)),
            _ => None,
        })
        .collect();
    let public: Vec<&str> = functions
        .iter()
        .filter(|(_, f)| matches!(f.vis, syn::Visibility::Public(_)))
        .map(|(name, _)| name.as_str())
        .collect();
    let mut calls = Vec::new();
    let mut problems = Vec::new();
    let missing_help = |name: &str, shape: &str| match crate::config::closest_match(name, &public) {
        Some(best) => format!(
            "did you mean `{best}`? public functions in lib.rs: {}",
            list(&public)
        ),
        None => format!(
            "add `{shape}` to lib.rs; public functions there: {}",
            list(&public)
        ),
    };
    let router = router.and_then(|name| {
        let problem = |problem: String, help: String| HandlerProblem {
            route: "`[app] router`".into(),
            handler: name.to_string(),
            problem,
            help,
        };
        let Some(function) = functions.get(name) else {
            let help = missing_help(name, &format!("pub fn {name}() -> axum::Router"));
            problems.push(problem("no such function in lib.rs".into(), help));
            return None;
        };
        match router_call(function) {
            Ok(call) => Some(call),
            Err((what, help)) => {
                problems.push(problem(what, help));
                None
            }
        }
    });
    for route in routes {
        let Some(handler) = route.handler.as_deref() else {
            continue;
        };
        let problem = |problem: String, help: String| HandlerProblem {
            route: format!("route `{}`", route.key()),
            handler: handler.to_string(),
            problem,
            help,
        };
        let Some(function) = functions.get(handler) else {
            let help = missing_help(handler, &format!("pub async fn {handler}(...)"));
            problems.push(problem("no such function in lib.rs".into(), help));
            continue;
        };
        match call_for(function, route) {
            Ok(call) => calls.push((route.clone(), call)),
            Err((what, help)) => problems.push(problem(what, help)),
        }
    }
    let mut event_calls = Vec::new();
    for event in events {
        let kind = EventKind::of(&event.source);
        let problem = |problem: String, help: String| HandlerProblem {
            route: format!("`[events.{}]`", event.name),
            handler: event.handler.clone(),
            problem,
            help,
        };
        let Some(function) = functions.get(&event.handler) else {
            let shape = format!(
                "pub async fn {}({}) -> Result<(), String>",
                event.handler,
                example_parameters(kind)
            );
            let help = missing_help(&event.handler, &shape);
            problems.push(problem("no such function in lib.rs".into(), help));
            continue;
        };
        match event_call_for(function, event, kind) {
            Ok(call) => event_calls.push(call),
            Err((what, help)) => problems.push(problem(what, help)),
        }
    }
    if problems.is_empty() {
        Ok(Handlers {
            routes: calls,
            router,
            events: event_calls,
        })
    } else {
        Err(HandlerError::Unusable { problems })
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

type Refusal = (String, String);

/// Each parameter's name (empty for a pattern) and type; a method is
/// refused.
fn parameters(sig: &syn::Signature) -> Result<Vec<(String, &Type)>, Refusal> {
    sig.inputs
        .iter()
        .map(|argument| {
            let FnArg::Typed(typed) = argument else {
                return Err((
                    "a handler cannot take `self`".into(),
                    "make it a free function in lib.rs".into(),
                ));
            };
            let name = match typed.pat.as_ref() {
                Pat::Ident(ident) => ident.ident.to_string(),
                _ => String::new(),
            };
            Ok((name, typed.ty.as_ref()))
        })
        .collect()
}

fn call_for(function: &ItemFn, route: &Route) -> Result<HandlerCall, Refusal> {
    let sig = &function.sig;
    let name = sig.ident.to_string();
    if !matches!(function.vis, syn::Visibility::Public(_)) {
        return Err((
            "the function is not public".into(),
            format!("write `pub async fn {name}`"),
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err((
            "generic handlers cannot be called from a route".into(),
            "use concrete types for the body and the result".into(),
        ));
    }
    let path_params: Vec<&str> = route
        .path
        .segments
        .iter()
        .filter_map(|s| match s {
            Segment::Param(n) | Segment::Greedy(n) => Some(n.as_str()),
            Segment::Literal(_) => None,
        })
        .collect();
    let mut inputs = Vec::new();
    let mut bodies = Vec::new();
    for (arg_name, ty) in parameters(sig)? {
        let input = classify_input(&arg_name, ty, &path_params);
        if let Input::JsonBody(_) | Input::Bytes = input {
            bodies.push(arg_name.clone());
        }
        inputs.push(input);
    }
    if bodies.len() > 1 {
        let params = if path_params.is_empty() {
            "this route has no path parameters".to_string()
        } else {
            format!("its path parameters are {}", list(&path_params))
        };
        return Err((
            format!(
                "parameters {} would all be the body",
                list(&bodies.iter().map(String::as_str).collect::<Vec<_>>())
            ),
            format!(
                "take one body parameter; name path parameters after the route ({params}); see docs/handlers.md"
            ),
        ));
    }
    let (fallible, output) = classify_output(&sig.output);
    Ok(HandlerCall {
        name,
        is_async: sig.asyncness.is_some(),
        inputs,
        output,
        fallible,
    })
}

/// The parameters docs/handlers.md shows for a kind, for "add this" help.
fn example_parameters(kind: EventKind) -> &'static str {
    match kind {
        EventKind::S3 => "bucket: String, key: String",
        EventKind::Sqs => "job: Job",
        EventKind::Schedule => "time: String",
        EventKind::Authorizer => "token: String",
    }
}

/// An event handler: `pub (async) fn` taking named values of its kind
/// (or, for SQS, one body parameter of any other name), or only `event`,
/// the whole event. It returns `()` or `Result<(), E>`; the whole-event
/// form may return a value, which becomes the invocation's response.
fn event_call_for(
    function: &ItemFn,
    event: &EventHandler,
    kind: EventKind,
) -> Result<EventCall, Refusal> {
    let sig = &function.sig;
    let name = sig.ident.to_string();
    let shape = || {
        format!(
            "pub async fn {name}({}) -> Result<(), String>",
            example_parameters(kind)
        )
    };
    if !matches!(function.vis, syn::Visibility::Public(_)) {
        return Err((
            "the function is not public".into(),
            format!("write `{}`", shape()),
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err((
            "generic handlers cannot be called by an event".into(),
            "use concrete types".into(),
        ));
    }
    let fields = kind.fields();
    let mut inputs = Vec::new();
    for (arg_name, ty) in parameters(sig)? {
        let (by_ref, inner) = match ty {
            Type::Reference(reference) => (true, reference.elem.as_ref()),
            other => (false, other),
        };
        let text = matches!(last_segment(inner).as_deref(), Some("str" | "String"));
        // `&str` is borrowed from an owned `String`.
        let ty = if text {
            "String".to_string()
        } else {
            inner.to_token_stream().to_string().replace(' ', "")
        };
        let input = if arg_name == "event" {
            EventInput::Event { ty, by_ref }
        } else if fields.contains(&arg_name.as_str()) {
            EventInput::Field {
                name: arg_name.clone(),
                ty,
                by_ref,
            }
        } else if kind == EventKind::Sqs {
            EventInput::Body { ty, by_ref, text }
        } else {
            return Err((
                format!(
                    "parameter `{arg_name}` is not something {} handler receives",
                    kind_name(kind)
                ),
                format!(
                    "name parameters after what they receive: {}, or take the whole event as `event`; see docs/handlers.md",
                    list(fields)
                ),
            ));
        };
        inputs.push(input);
    }
    let bodies = inputs
        .iter()
        .filter(|i| matches!(i, EventInput::Body { .. }))
        .count();
    if bodies > 1 {
        return Err((
            "more than one parameter would be the message body".into(),
            format!(
                "take one body parameter; the other named values are {}",
                list(fields)
            ),
        ));
    }
    let whole = inputs.iter().any(|i| matches!(i, EventInput::Event { .. }));
    if whole && inputs.len() > 1 {
        return Err((
            "`event` takes the whole event, so it comes alone".into(),
            format!(
                "take either `event` or the {} values ({})",
                kind.unit(),
                list(fields)
            ),
        ));
    }
    let (fallible, output) = classify_output(&sig.output);
    if kind == EventKind::Authorizer && !whole {
        // Its verdict: `Some(context)` lets the call through (the route
        // handler's `caller` is that context), `None` refuses it.
        if !returns_option(&sig.output) {
            return Err((
                "an authorizer returns its verdict: `Option<T>` (or `Result<Option<T>, E>`)".into(),
                format!(
                    "write `pub async fn {name}(token: String) -> Option<Caller>`: `Some(caller)` lets the call through with `caller` as its context, `None` refuses it (403), an `Err` answers 401"
                ),
            ));
        }
        return Ok(EventCall {
            name: event.name.clone(),
            function: name,
            kind,
            is_async: sig.asyncness.is_some(),
            inputs,
            fallible,
            responds: true,
        });
    }
    if output != Output::Empty && !whole {
        return Err((
            format!(
                "it returns a value, which nothing would receive: it is called once per {}",
                kind.unit()
            ),
            format!("return `()` or `Result<(), E>`: `{}`", shape()),
        ));
    }
    Ok(EventCall {
        name: event.name.clone(),
        function: name,
        kind,
        is_async: sig.asyncness.is_some(),
        inputs,
        fallible,
        responds: output != Output::Empty,
    })
}

/// The kind with its article, for messages.
fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::S3 => "an S3",
        EventKind::Sqs => "a queue",
        EventKind::Schedule => "a schedule",
        EventKind::Authorizer => "an authorizer",
    }
}

/// `[app] router`: `pub fn NAME() -> R` or `pub async fn`, where `R` (or
/// the `T` of `Result<T, E>`) is a service of HTTP requests, usually an
/// `axum::Router`. Whether it is one, the compiler says.
fn router_call(function: &ItemFn) -> Result<RouterCall, Refusal> {
    let sig = &function.sig;
    let name = sig.ident.to_string();
    if !matches!(function.vis, syn::Visibility::Public(_)) {
        return Err((
            "the function is not public".into(),
            format!("write `pub fn {name}() -> axum::Router`"),
        ));
    }
    if !sig.generics.params.is_empty() || !sig.inputs.is_empty() {
        return Err((
            "the router function takes parameters; slx calls it with none".into(),
            format!(
                "build what it needs inside (read settings from the environment): `pub fn {name}() -> axum::Router`"
            ),
        ));
    }
    let ReturnType::Type(_, returned) = &sig.output else {
        return Err((
            "the router function returns nothing".into(),
            format!("return the app: `pub fn {name}() -> axum::Router`"),
        ));
    };
    let fallible = result_ok_type(returned);
    let service = fallible.unwrap_or(returned);
    if let Type::Path(path) = service
        && let Some(last) = path.path.segments.last()
        && last.ident == "Router"
        && let PathArguments::AngleBracketed(arguments) = &last.arguments
        && arguments.args.iter().any(|argument| {
            !matches!(argument, GenericArgument::Type(Type::Tuple(unit)) if unit.elems.is_empty())
        })
    {
        return Err((
            format!(
                "`{}` still needs its state",
                service.to_token_stream().to_string().replace(' ', "")
            ),
            "end with `.with_state(state)` and return `axum::Router` (a `Router<()>`): slx can only serve a router whose state is provided".into(),
        ));
    }
    Ok(RouterCall {
        name,
        is_async: sig.asyncness.is_some(),
        fallible: fallible.is_some(),
    })
}

fn classify_input(name: &str, ty: &Type, path_params: &[&str]) -> Input {
    if path_params.contains(&name) {
        return Input::PathParam(name.to_string());
    }
    let (by_ref, inner) = match ty {
        Type::Reference(reference) => (true, reference.elem.as_ref()),
        other => (false, other),
    };
    match last_segment(inner).as_deref() {
        Some("Request") => return Input::Request { by_ref },
        Some("HeaderMap") => return Input::Headers,
        _ => {}
    }
    if name == "query" {
        return Input::Query;
    }
    let type_name = || ty.to_token_stream().to_string().replace(' ', "");
    if name == "caller" {
        return Input::Caller(type_name());
    }
    if name == "identity" {
        return Input::Identity(type_name());
    }
    if !by_ref && is_byte_vec(inner) {
        return Input::Bytes;
    }
    Input::JsonBody(ty.to_token_stream().to_string().replace(' ', ""))
}

fn classify_output(output: &ReturnType) -> (bool, Output) {
    let ReturnType::Type(_, ty) = output else {
        return (false, Output::Empty);
    };
    match result_ok_type(ty) {
        Some(ok) => (true, classify_value(ok)),
        None => (false, classify_value(ty)),
    }
}

fn classify_value(ty: &Type) -> Output {
    match ty {
        Type::Tuple(tuple) if tuple.elems.is_empty() => Output::Empty,
        Type::Tuple(tuple) if tuple.elems.len() == 2 => Output::StatusJson,
        other if last_segment(other).as_deref() == Some("Response") => Output::Raw,
        other if is_byte_vec(other) => Output::Bytes,
        _ => Output::Json,
    }
}

/// `Vec<u8>` (however its path is written).
fn is_byte_vec(ty: &Type) -> bool {
    let text = ty.to_token_stream().to_string().replace(' ', "");
    matches!(
        text.as_str(),
        "Vec<u8>" | "std::vec::Vec<u8>" | "alloc::vec::Vec<u8>" | "::std::vec::Vec<u8>"
    )
}

/// Whether the function returns `Option<T>` or `Result<Option<T>, E>`.
fn returns_option(output: &ReturnType) -> bool {
    let ReturnType::Type(_, ty) = output else {
        return false;
    };
    let value = result_ok_type(ty).unwrap_or(ty);
    last_segment(value).as_deref() == Some("Option")
}

/// `T` of `Result<T, E>` (any path ending in `Result` with two arguments).
fn result_ok_type(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let segment = path.path.segments.last()?;
    if segment.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(arguments) = &segment.arguments else {
        return None;
    };
    arguments.args.iter().find_map(|argument| match argument {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

fn last_segment(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Method, parse_path};

    fn route(key: &str, handler: &str) -> Route {
        let (method, path) = key.split_once(' ').unwrap();
        Route {
            method: Method::parse(method).unwrap(),
            path: parse_path(path).unwrap(),
            handler: Some(handler.into()),
            cors: true,
            api_key: false,
            auth: None,
            span: 0..0,
        }
    }

    fn check_src(src: &str, routes: &[Route]) -> Result<Vec<HandlerCall>, HandlerError> {
        check(&syn::parse_file(src).unwrap(), routes, None, &[])
            .map(|handlers| handlers.routes.into_iter().map(|(_, call)| call).collect())
    }

    fn problems(src: &str, routes: &[Route]) -> Vec<HandlerProblem> {
        match check_src(src, routes) {
            Err(HandlerError::Unusable { problems }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn typed_json_in_and_out() {
        let calls = check_src(
            "pub async fn greet(input: Greet) -> Result<Reply, String> { todo!() }",
            &[route("POST /greet", "greet")],
        )
        .unwrap();
        assert_eq!(
            calls[0],
            HandlerCall {
                name: "greet".into(),
                is_async: true,
                inputs: vec![Input::JsonBody("Greet".into())],
                output: Output::Json,
                fallible: true,
            }
        );
    }

    #[test]
    fn path_query_headers_and_raw_request_are_recognised() {
        let calls = check_src(
            "pub async fn f(id: u64, query: Page, headers: http::HeaderMap, req: &lambda_http::Request, body: Order) -> (u16, Out) { todo!() }",
            &[route("POST /orders/{id}", "f")],
        )
        .unwrap();
        assert_eq!(
            calls[0].inputs,
            vec![
                Input::PathParam("id".into()),
                Input::Query,
                Input::Headers,
                Input::Request { by_ref: true },
                Input::JsonBody("Order".into()),
            ]
        );
        assert_eq!(calls[0].output, Output::StatusJson);
        assert!(!calls[0].fallible);
    }

    #[test]
    fn the_caller_and_its_identity_come_by_name() {
        let calls = check_src(
            "pub async fn me(caller: Caller, identity: serde_json::Value, order: Order) -> Caller { todo!() }",
            &[route("POST /me", "me")],
        )
        .unwrap();
        assert_eq!(
            calls[0].inputs,
            vec![
                Input::Caller("Caller".into()),
                Input::Identity("serde_json::Value".into()),
                Input::JsonBody("Order".into()),
            ]
        );
    }

    #[test]
    fn byte_bodies_in_and_out() {
        let calls = check_src(
            "pub async fn thumb(id: String, image: Vec<u8>) -> Result<std::vec::Vec<u8>, String> { todo!() }",
            &[route("POST /thumbs/{id}", "thumb")],
        )
        .unwrap();
        assert_eq!(
            calls[0].inputs,
            vec![Input::PathParam("id".into()), Input::Bytes]
        );
        assert_eq!(
            (calls[0].output.clone(), calls[0].fallible),
            (Output::Bytes, true)
        );
        let problems = problems(
            "pub fn two(a: Vec<u8>, b: Order) {}",
            &[route("POST /two", "two")],
        );
        assert!(
            problems[0]
                .problem
                .contains("`a`, `b` would all be the body"),
            "{problems:?}"
        );
    }

    #[test]
    fn raw_response_and_empty_results() {
        let calls = check_src(
            "pub fn a(r: Request) -> Response<String> { todo!() }\npub async fn b() {}\npub async fn c() -> Result<(), E> { todo!() }",
            &[route("GET /a", "a"), route("GET /b", "b"), route("GET /c", "c")],
        )
        .unwrap();
        assert_eq!(calls[0].output, Output::Raw);
        assert!(!calls[0].is_async);
        assert_eq!(calls[1].output, Output::Empty);
        assert_eq!(
            (calls[2].fallible, calls[2].output.clone()),
            (true, Output::Empty)
        );
    }

    #[test]
    fn missing_handler_names_the_route_and_the_existing_functions() {
        let found = problems(
            "pub async fn greet() {}\npub async fn health() {}\nfn private() {}",
            &[route("POST /greeting", "greeet")],
        );
        assert_eq!(found[0].route, "route `POST /greeting`");
        assert_eq!(found[0].problem, "no such function in lib.rs");
        assert!(
            found[0].help.contains("did you mean `greet`?"),
            "{}",
            found[0].help
        );
        assert!(found[0].help.contains("`health`"));
        assert!(!found[0].help.contains("private"));
    }

    #[test]
    fn unusable_signatures_are_explained() {
        let src = "async fn hidden() {}\npub async fn generic<T>(t: T) {}\npub async fn two(a: A, b: B) {}";
        let found = problems(
            src,
            &[
                route("GET /h", "hidden"),
                route("POST /g", "generic"),
                route("POST /t/{id}", "two"),
            ],
        );
        assert_eq!(found.len(), 3);
        assert!(found[0].help.contains("pub async fn hidden"));
        assert!(found[1].problem.contains("generic"));
        assert!(found[2].problem.contains("`a`, `b` would all be the body"));
        assert!(found[2].help.contains("`id`"));
    }

    #[test]
    fn a_router_function_is_checked_like_a_handler() {
        let router = |src: &str| check(&syn::parse_file(src).unwrap(), &[], Some("router"), &[]);
        let ok =
            router("pub async fn router() -> Result<axum::Router, String> { todo!() }").unwrap();
        assert_eq!(
            ok.router,
            Some(RouterCall {
                name: "router".into(),
                is_async: true,
                fallible: true,
            })
        );
        let plain = router("pub fn router() -> Router<()> { todo!() }").unwrap();
        assert!(!plain.router.unwrap().fallible);
        let refused = |src: &str| match router(src) {
            Err(HandlerError::Unusable { problems }) => problems[0].clone(),
            other => panic!("{other:?}"),
        };
        let stateful = refused("pub fn router() -> Router<AppState> { todo!() }");
        assert_eq!(stateful.route, "`[app] router`");
        assert!(
            stateful
                .problem
                .contains("`Router<AppState>` still needs its state")
        );
        assert!(stateful.help.contains(".with_state(state)"));
        let missing = refused("pub fn routes() -> Router { todo!() }");
        assert!(
            missing.help.contains("did you mean `routes`?"),
            "{}",
            missing.help
        );
        assert!(
            refused("fn router() -> Router { todo!() }")
                .problem
                .contains("not public")
        );
        assert!(
            refused("pub fn router(x: u8) -> Router { todo!() }")
                .problem
                .contains("takes parameters")
        );
        assert!(
            refused("pub fn router() {}")
                .problem
                .contains("returns nothing")
        );
    }

    fn event(name: &str, handler: &str, kind: &str) -> EventHandler {
        let source = match kind {
            "s3" => EventSource::S3(crate::config::S3Source {
                bucket: "shop-uploads".into(),
                events: vec![crate::config::S3EventKind::Created],
                prefix: None,
                suffix: None,
            }),
            "sqs" => EventSource::Sqs(crate::config::SqsSource {
                queue: "jobs".into(),
                batch_size: 10,
                batch_window: 0,
                report_failures: true,
            }),
            _ => EventSource::Schedule(crate::config::ScheduleSource {
                expression: "rate(1 hour)".into(),
                timezone: None,
                input: None,
            }),
        };
        EventHandler {
            name: name.into(),
            handler: handler.into(),
            source,
            memory: None,
            timeout: None,
            on_failure: None,
            span: 0..0,
        }
    }

    fn check_events(src: &str, events: &[EventHandler]) -> Result<Vec<EventCall>, HandlerError> {
        check(&syn::parse_file(src).unwrap(), &[], None, events).map(|h| h.events)
    }

    #[test]
    fn event_handlers_take_named_values_a_body_or_the_whole_event() {
        let calls = check_events(
            "pub async fn on_upload(bucket: &str, key: String, size: u64) -> Result<(), String> { todo!() }\n\
             pub async fn on_job(job: Job, message_id: String) -> Result<(), anyhow::Error> { todo!() }\n\
             pub fn plain(body: &str) {}\n\
             pub async fn nightly(time: String, input: Settings) {}\n\
             pub async fn raw(event: aws_lambda_events::sqs::SqsEvent) -> Result<SqsBatchResponse, String> { todo!() }",
            &[
                event("on_upload", "on_upload", "s3"),
                event("on_job", "on_job", "sqs"),
                event("text_jobs", "plain", "sqs"),
                event("nightly", "nightly", "schedule"),
                event("raw", "raw", "sqs"),
            ],
        )
        .unwrap();
        assert_eq!(
            calls[0].inputs,
            vec![
                EventInput::Field {
                    name: "bucket".into(),
                    ty: "String".into(),
                    by_ref: true
                },
                EventInput::Field {
                    name: "key".into(),
                    ty: "String".into(),
                    by_ref: false
                },
                EventInput::Field {
                    name: "size".into(),
                    ty: "u64".into(),
                    by_ref: false
                },
            ]
        );
        assert_eq!(
            (calls[0].kind, calls[0].fallible, calls[0].responds),
            (EventKind::S3, true, false)
        );
        assert_eq!(
            calls[1].inputs,
            vec![
                EventInput::Body {
                    ty: "Job".into(),
                    by_ref: false,
                    text: false
                },
                EventInput::Field {
                    name: "message_id".into(),
                    ty: "String".into(),
                    by_ref: false
                },
            ]
        );
        assert_eq!(calls[2].name, "text_jobs");
        assert_eq!(calls[2].function, "plain");
        assert!(!calls[2].is_async);
        assert_eq!(
            calls[2].inputs,
            vec![EventInput::Body {
                ty: "String".into(),
                by_ref: true,
                text: true
            }]
        );
        assert_eq!(calls[3].inputs.len(), 2);
        assert!(!calls[3].fallible);
        assert_eq!(
            calls[4].inputs,
            vec![EventInput::Event {
                ty: "aws_lambda_events::sqs::SqsEvent".into(),
                by_ref: false
            }]
        );
        assert!(calls[4].responds);
    }

    #[test]
    fn unusable_event_handlers_are_explained() {
        let problems = match check_events(
            "pub async fn a(bucket: String, path: String) {}\n\
             pub async fn b(one: A, two: B) {}\n\
             pub async fn c(event: Value, key: String) {}\n\
             pub async fn d(key: String) -> Result<u32, String> { todo!() }\n\
             async fn e() {}\n\
             pub async fn on_uplod() {}",
            &[
                event("a", "a", "s3"),
                event("b", "b", "sqs"),
                event("c", "c", "s3"),
                event("d", "d", "s3"),
                event("e", "e", "schedule"),
                event("on_upload", "on_upload", "s3"),
            ],
        ) {
            Err(HandlerError::Unusable { problems }) => problems,
            other => panic!("{other:?}"),
        };
        let said: Vec<(String, String, String)> = problems
            .into_iter()
            .map(|p| (p.route, p.problem, p.help))
            .collect();
        let has = |route: &str, problem: &str, help: &str| {
            assert!(
                said.iter()
                    .any(|(r, p, h)| r == route && p.contains(problem) && h.contains(help)),
                "no {route}: {problem} / {help} in {said:#?}"
            );
        };
        has(
            "`[events.a]`",
            "`path` is not something an S3 handler receives",
            "`bucket`, `key`, `size`",
        );
        has(
            "`[events.b]`",
            "more than one parameter would be the message body",
            "`message_id`",
        );
        has(
            "`[events.c]`",
            "`event` takes the whole event, so it comes alone",
            "object record",
        );
        has(
            "`[events.d]`",
            "returns a value, which nothing would receive",
            "Result<(), E>",
        );
        has("`[events.e]`", "not public", "pub async fn e(time: String)");
        has(
            "`[events.on_upload]`",
            "no such function",
            "did you mean `on_uplod`?",
        );
        assert_eq!(said.len(), 6);
    }
}
