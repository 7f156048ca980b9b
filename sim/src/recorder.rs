//! Keeps every request a client sent the simulator, as it arrived, and
//! the answer the simulator gave it, for a judge that did not come from
//! here: tests/judges/api_models.py checks each request against AWS's
//! published API models (botocore), and each answer against the
//! operation's output shape or error list. On when `SLX_SIM_REQUESTS`
//! names a directory (scripts/test sets it); each simulator writes its
//! own file there, each request one JSON line with the test that started
//! the simulator. Records; never judges.

use std::io::Write;
use std::sync::Mutex;

use base64::Engine;

/// Bodies above this are kept in part: a run uploads hundreds of zips.
const LARGE: usize = 1 << 20;

/// What of `body` is written down: all of it when small; of a large JSON
/// document, its shape with every string above [`LARGE`] (a zip in
/// base64) replaced by a note of its size, which no model bounds below
/// that; of any other large body (an invocation's payload, a blob), none.
fn kept(body: &[u8]) -> Vec<u8> {
    if body.len() <= LARGE {
        return body.to_vec();
    }
    let Ok(mut document) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    elide(&mut document);
    document.to_string().into_bytes()
}

fn elide(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) if text.len() > LARGE => {
            *text = format!("<{} bytes>", text.len());
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(elide),
        serde_json::Value::Object(members) => members.values_mut().for_each(elide),
        _ => {}
    }
}

/// Where a simulator writes the requests it gets.
pub(crate) struct Recorder {
    file: Mutex<std::fs::File>,
    /// The test that started the simulator (its thread's name).
    test: String,
}

impl Recorder {
    /// A recorder into `SLX_SIM_REQUESTS`, if it is set; `port` names the
    /// file (one per simulator).
    pub(crate) fn from_env(port: u16) -> Option<Recorder> {
        let dir = std::env::var_os("SLX_SIM_REQUESTS")?;
        std::fs::create_dir_all(&dir).ok()?;
        let name = format!("{}-{port}.jsonl", std::process::id());
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(std::path::Path::new(&dir).join(name))
            .ok()?;
        Some(Recorder {
            file: Mutex::new(file),
            test: std::thread::current().name().unwrap_or("").to_string(),
        })
    }

    /// A request, written down once its answer is known ([`Recorder::write`]).
    pub(crate) fn request(
        &self,
        parts: &hyper::http::request::Parts,
        service: &str,
        body: &[u8],
    ) -> serde_json::Value {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        serde_json::json!({
            "test": self.test,
            "service": service,
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "query": parts.uri.query().unwrap_or_default(),
            "content_type": header("content-type"),
            "target": header("x-amz-target"),
            "headers": headers(&parts.headers),
            "body": base64::engine::general_purpose::STANDARD.encode(kept(body)),
        })
    }

    /// Writes `request` down with its answer (`None`: the connection was
    /// dropped, or the answer streams).
    pub(crate) fn write(
        &self,
        mut request: serde_json::Value,
        answer: Option<(u16, &hyper::HeaderMap, &[u8])>,
    ) {
        request["response"] = match answer {
            Some((status, answer_headers, body)) => serde_json::json!({
                "status": status,
                "headers": headers(answer_headers),
                "body": base64::engine::general_purpose::STANDARD.encode(kept(body)),
            }),
            None => serde_json::Value::Null,
        };
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(file, "{request}");
    }
}

/// Every header but the credentials' (a header member of an input or
/// output is judged like any other).
fn headers(headers: &hyper::HeaderMap) -> serde_json::Map<String, serde_json::Value> {
    headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "authorization" | "x-amz-security-token"))
        .map(|(name, value)| {
            let value = value.to_str().unwrap_or_default().to_string();
            (name.as_str().to_string(), serde_json::Value::String(value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_json_body_keeps_its_shape_and_another_is_left_out() {
        let zip = "A".repeat(LARGE + 1);
        let body = serde_json::json!({ "FunctionName": "f", "ZipFile": zip }).to_string();
        let shape: serde_json::Value = serde_json::from_slice(&kept(body.as_bytes())).unwrap();
        assert_eq!(shape["FunctionName"], "f");
        assert_eq!(shape["ZipFile"], format!("<{} bytes>", LARGE + 1));
        assert!(kept(&vec![0u8; LARGE + 1]).is_empty());
        assert_eq!(kept(b"small"), b"small");
    }
}
