//! A test app: the scaffold plus handlers for every signature shape and
//! every failure a gateway must handle (error, panic, timeout, crash),
//! and a binary echo.
#![allow(dead_code)]

use std::path::Path;

const EXTRA_HANDLERS: &str = r#"
#[derive(Debug, Deserialize)]
pub struct Page { pub page: u32 }

pub async fn search(query: Page, headers: lambda_http::http::HeaderMap) -> (u16, serde_json::Value) {
    let agent = headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (206, serde_json::json!({ "page": query.page, "agent": agent }))
}

pub fn raw(request: lambda_http::Request) -> lambda_http::Response<String> {
    lambda_http::Response::builder()
        .status(418)
        .header("x-path", request.uri().path())
        .body("short and stout".to_string())
        .unwrap()
}

pub async fn boom() -> Health {
    panic!("kaboom")
}

pub async fn sleepy() -> Health {
    eprintln!("sleepy pid {}", std::process::id());
    std::thread::sleep(std::time::Duration::from_secs(30));
    health().await
}

pub async fn crash() -> Health {
    eprintln!("about to crash");
    std::process::exit(3)
}

#[derive(Debug, Deserialize)]
pub struct Size { pub bytes: usize }

pub async fn sized(query: Size) -> String {
    "x".repeat(query.bytes)
}

pub fn cookies() -> lambda_http::Response<String> {
    lambda_http::Response::builder()
        .header("set-cookie", "a=1; Path=/")
        .header("set-cookie", "b=2; Path=/")
        .body("two cookies".to_string())
        .unwrap()
}

/// Answers its own invocation through the Runtime API with bytes that are
/// not a proxy response, as a broken custom runtime would.
pub fn garbage(request: lambda_http::Request) -> lambda_http::Response<String> {
    use lambda_http::RequestExt;
    use std::io::{Read, Write};
    let id = request.lambda_context().request_id;
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap();
    let body = "this is not a proxy response";
    let mut stream = std::net::TcpStream::connect(&api).unwrap();
    write!(
        stream,
        "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: {api}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let _ = stream.read_to_end(&mut Vec::new());
    lambda_http::Response::new("too late".to_string())
}

/// This invocation's X-Ray trace id, as the runtime exposes it to the
/// app's tracing clients.
pub async fn trace() -> String {
    std::env::var("_X_AMZN_TRACE_ID").unwrap_or_default()
}

/// A binary body in, a binary body out, by type alone.
pub async fn thumbnail(id: String, image: Vec<u8>) -> Vec<u8> {
    let mut out = id.into_bytes();
    out.push(0);
    out.extend(image.iter().rev());
    out
}

pub fn echo_bytes(request: lambda_http::Request) -> lambda_http::Response<Vec<u8>> {
    lambda_http::Response::builder()
        .header("content-type", "application/octet-stream")
        .body(request.body().to_vec())
        .unwrap()
}
"#;

pub(crate) const EXTRA_ROUTES: &str = "\"GET /search\" = \"search\"\n\"GET /raw/{rest+}\" = \"raw\"\n\"GET /boom\" = \"boom\"\n\"GET /sleepy\" = \"sleepy\"\n\"GET /crash\" = \"crash\"\n\"POST /bytes\" = \"echo_bytes\"\n\"POST /thumbs/{id}\" = \"thumbnail\"\n\"GET /sized\" = \"sized\"\n\"GET /cookies\" = \"cookies\"\n\"GET /garbage\" = \"garbage\"\n\"GET /trace\" = \"trace\"\n";

/// Adds the extra handlers and routes to a scaffolded app in `dir`.
pub(crate) fn add_extra_handlers(dir: &Path) {
    let lib = dir.join("src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    let (head, tests) = text.split_once("#[cfg(test)]").unwrap();
    std::fs::write(&lib, format!("{head}{EXTRA_HANDLERS}\n#[cfg(test)]{tests}")).unwrap();
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text = text.replace(
        "[dependencies]\n",
        "[dependencies]\nlambda_http = { version = \"1\", default-features = false, features = [\"apigw_rest\"] }\nserde_json = \"1\"\n",
    );
    std::fs::write(&manifest, text).unwrap();
    let config = dir.join("slx.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "\"GET /health\" = \"health\"\n",
            &format!("\"GET /health\" = \"health\"\n{EXTRA_ROUTES}"),
        )
        .replacen(
            "[app]\n",
            "[app]\nbinary_media_types = [\"application/octet-stream\", \"image/*\"]\n",
            1,
        ),
    )
    .unwrap();
}
