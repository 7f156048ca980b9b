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

use crate::config::{Route, Segment};

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

/// What the generated crate calls: each handler route's function, and the
/// router if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handlers {
    pub routes: Vec<(Route, HandlerCall)>,
    pub router: Option<RouterCall>,
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
    #[error("{} of the routes in slx.toml cannot be served:\n{}", .problems.len(), render(.problems))]
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
    check(&file, routes, router)
}

/// Pure core of `check_file`, on parsed source.
pub fn check(
    file: &syn::File,
    routes: &[Route],
    router: Option<&str>,
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
    if problems.is_empty() {
        Ok(Handlers {
            routes: calls,
            router,
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
    for argument in &sig.inputs {
        let FnArg::Typed(typed) = argument else {
            return Err((
                "a handler cannot take `self`".into(),
                "make it a free function in lib.rs".into(),
            ));
        };
        let arg_name = match typed.pat.as_ref() {
            Pat::Ident(ident) => ident.ident.to_string(),
            _ => String::new(),
        };
        let input = classify_input(&arg_name, &typed.ty, &path_params);
        if let Input::JsonBody(_) = input {
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
                "parameters {} would all be the JSON body",
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
        _ => Output::Json,
    }
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
            span: 0..0,
        }
    }

    fn check_src(src: &str, routes: &[Route]) -> Result<Vec<HandlerCall>, HandlerError> {
        check(&syn::parse_file(src).unwrap(), routes, None)
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
        assert!(
            found[2]
                .problem
                .contains("`a`, `b` would all be the JSON body")
        );
        assert!(found[2].help.contains("`id`"));
    }

    #[test]
    fn a_router_function_is_checked_like_a_handler() {
        let router = |src: &str| check(&syn::parse_file(src).unwrap(), &[], Some("router"));
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
}
