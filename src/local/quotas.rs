//! The sizes API Gateway (REST) and Lambda accept, which the local
//! gateway and Runtime API enforce as the deployed stage does, and the
//! bounded reading of request and response bodies.
//!
//! Never decides the answer to an oversized request: the gateway does.

use axum::body::Body;
use futures_util::StreamExt;

/// Lambda's synchronous invocation payload, request side: "6 MB" on the
/// quotas page, exactly 6,291,456 bytes in Lambda's error message
/// ("Request must be smaller than 6291456 bytes for the InvokeFunction
/// operation"). It bounds the whole API Gateway event (headers, context,
/// and the body, base64-encoded when binary), not the body alone.
// https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
pub const MAX_EVENT_BYTES: usize = 6 * 1024 * 1024;

/// The response side: 100 bytes more than the request side ("Response
/// payload size exceeded maximum allowed payload size (6291556 bytes)").
// https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024 + 100;

/// API Gateway REST: "Total combined size of request line and header
/// values: 10240 bytes".
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html
pub const MAX_REQUEST_LINE_AND_HEADER_VALUES: usize = 10_240;

/// How much of an oversized body is read (and dropped) so that the client,
/// which is still sending it, receives the 413 instead of a reset
/// connection. Beyond it the connection is closed.
pub const DRAIN_BYTES: usize = 32 * 1024 * 1024;

/// The request line (`METHOD target HTTP/1.1`) and every header value,
/// in bytes: what API Gateway's 10240-byte quota counts.
pub fn request_line_and_header_values<'a>(
    method: &str,
    target: &str,
    values: impl Iterator<Item = &'a [u8]>,
) -> usize {
    method.len() + 1 + target.len() + 1 + "HTTP/1.1".len() + values.map(<[u8]>::len).sum::<usize>()
}

/// Why a body was not read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unread {
    /// More than the limit: at least `seen` bytes (all of them when
    /// `complete`, i.e. the rest was drained to its end).
    TooLarge { seen: usize, complete: bool },
    /// The client stopped sending before the body ended.
    Broken(String),
}

/// Reads `body` up to `limit` bytes. Past the limit, reads on (dropping
/// the bytes) up to [`DRAIN_BYTES`] when `drain`, so the answer reaches a
/// client that is still sending.
pub async fn read_limited(body: Body, limit: usize, drain: bool) -> Result<Vec<u8>, Unread> {
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Unread::Broken(e.to_string()))?;
        seen += chunk.len();
        if seen <= limit {
            kept.extend_from_slice(&chunk);
            continue;
        }
        if !drain {
            return Err(Unread::TooLarge {
                seen,
                complete: false,
            });
        }
        kept = Vec::new();
        if seen > DRAIN_BYTES {
            return Err(Unread::TooLarge {
                seen,
                complete: false,
            });
        }
    }
    if seen > limit {
        return Err(Unread::TooLarge {
            seen,
            complete: true,
        });
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(chunks: Vec<Result<Vec<u8>, std::io::Error>>) -> Body {
        Body::from_stream(futures_util::stream::iter(chunks))
    }

    #[tokio::test]
    async fn a_body_at_the_limit_is_read_and_one_byte_more_is_not() {
        let at = read_limited(Body::from(vec![7u8; 100]), 100, true).await;
        assert_eq!(at.unwrap().len(), 100);
        let over = read_limited(chunked(vec![Ok(vec![1; 60]), Ok(vec![1; 41])]), 100, true).await;
        assert_eq!(
            over,
            Err(Unread::TooLarge {
                seen: 101,
                complete: true
            })
        );
        let undrained = read_limited(chunked(vec![Ok(vec![1; 101]), Ok(vec![1; 5])]), 100, false);
        assert_eq!(
            undrained.await,
            Err(Unread::TooLarge {
                seen: 101,
                complete: false
            })
        );
    }

    #[tokio::test]
    async fn a_body_that_breaks_off_is_reported() {
        let broken = chunked(vec![
            Ok(vec![1; 10]),
            Err(std::io::Error::other("connection closed")),
        ]);
        assert!(matches!(
            read_limited(broken, 100, true).await,
            Err(Unread::Broken(_))
        ));
    }

    #[test]
    fn the_header_quota_counts_the_request_line_and_values_only() {
        let values: [&[u8]; 2] = [b"abc", b"12345"];
        // "GET /a?b=1 HTTP/1.1" is 19 bytes; names are not counted.
        assert_eq!(
            request_line_and_header_values("GET", "/a?b=1", values.into_iter()),
            19 + 8
        );
    }
}
