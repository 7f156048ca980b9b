//! `slx dev` answers only requests addressed to this machine by a local
//! name: `localhost`, `127.0.0.1` or `[::1]` on the port it listens on,
//! and the names `--allow-host` adds. Its handlers run with the
//! developer's AWS credentials; a web page can reach a server on
//! 127.0.0.1 through DNS rebinding (a name of the attacker's that first
//! resolves to their server, then to 127.0.0.1), and the browser then
//! sends that name as `Host`. Refusing other names closes that door.
// https://en.wikipedia.org/wiki/DNS_rebinding
//
// Decides on the `Host` header only; never looks at what is served.

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The names a request may address `slx dev` by, and its port.
#[derive(Debug, Clone)]
pub struct LocalNames {
    pub port: u16,
    /// Added by `--allow-host` (lowercase, without a port).
    pub extra: Vec<String>,
}

impl LocalNames {
    /// Whether a request with this `Host` header may be served.
    pub fn admits(&self, host: Option<&str>) -> bool {
        let Some(host) = host else {
            return false;
        };
        // `Host` is an authority: a name (an IPv6 literal in brackets)
        // and maybe a port.
        let Ok(authority) = host.trim().parse::<axum::http::uri::Authority>() else {
            return false;
        };
        let name = authority.host().to_ascii_lowercase();
        // No port: HTTP's default.
        let port_matches = authority.port_u16().unwrap_or(80) == self.port;
        let local = matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]");
        port_matches && (local || self.extra.contains(&name))
    }
}

/// `router`, answering only requests for `names`.
pub fn guarded<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    names: LocalNames,
) -> Router<S> {
    router.layer(axum::middleware::from_fn(move |request, next| {
        only_local_names(names.clone(), request, next)
    }))
}

/// The middleware: 403 for any other `Host`, naming the fix.
async fn only_local_names(names: LocalNames, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok());
    if names.admits(host) {
        return next.run(request).await;
    }
    let shown = host.unwrap_or("(none)");
    tracing::warn!(host = shown, "refused a request for another host name");
    (
        StatusCode::FORBIDDEN,
        format!(
            "slx dev answers only requests for localhost, 127.0.0.1 or [::1] on port {} \
             (this one was for `{shown}`): pass --allow-host NAME to add a name\n",
            names.port
        ),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_names_on_the_bound_port_are_admitted() {
        let names = LocalNames {
            port: 3000,
            extra: vec!["dev.test".into()],
        };
        for host in [
            "localhost:3000",
            "127.0.0.1:3000",
            "[::1]:3000",
            "LOCALHOST:3000",
            "dev.test:3000",
        ] {
            assert!(names.admits(Some(host)), "{host}");
        }
        for host in [
            "evil.example:3000",
            "localhost.evil.example:3000",
            "127.0.0.1.nip.io:3000",
            "localhost:3001",
            "localhost",
            "127.0.0.1:3000:3000",
            "[::1]",
        ] {
            assert!(!names.admits(Some(host)), "{host}");
        }
        assert!(!names.admits(None), "no Host");
        let on_80 = LocalNames {
            port: 80,
            extra: Vec::new(),
        };
        assert!(on_80.admits(Some("localhost")));
    }
}
