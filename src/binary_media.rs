//! API Gateway's binary media rules for a REST API's Lambda proxy
//! integrations, so that `slx dev`, `slx invoke` and the smoke checks
//! treat bodies as the deployed stage does:
//!
//! - a request body reaches the function base64-encoded
//!   (`isBase64Encoded`) when its `Content-Type` is one of the API's
//!   binary media types, and as text otherwise (bytes that are not UTF-8
//!   are then damaged);
//! - a base64-encoded answer is decoded for the client only when the
//!   request's first `Accept` media type is one of them; otherwise the
//!   client receives the base64 text.
//!
//! `*` stands for a whole part (`image/*`, `*/*`), and is matched
//! literally on the request's side: `Accept: */*` matches only `*/*`.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html>
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/lambda-proxy-binary-media.html>
//!
//! Pure.

/// The API's binary media types (`[app] binary_media_types`, or `*/*`
/// in router mode).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinaryMediaTypes(Vec<String>);

impl BinaryMediaTypes {
    pub fn new(types: &[String]) -> BinaryMediaTypes {
        BinaryMediaTypes(types.iter().map(|t| t.to_ascii_lowercase()).collect())
    }

    /// Every content type is binary (router mode).
    pub fn all(&self) -> bool {
        self.0.iter().any(|t| t == "*/*")
    }

    /// Whether `value` (a header value: parameters and further entries
    /// after `;` or `,` are ignored) is one of the types.
    pub fn matches(&self, value: &str) -> bool {
        let media = value
            .split([',', ';'])
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let Some((kind, subtype)) = media.split_once('/') else {
            return false;
        };
        self.0.iter().any(|pattern| {
            let Some((want_kind, want_subtype)) = pattern.split_once('/') else {
                return false;
            };
            (want_kind == "*" || want_kind == kind)
                && (want_subtype == "*" || want_subtype == subtype)
        })
    }

    /// Whether a request body with this `Content-Type` reaches the
    /// function base64-encoded.
    pub fn request_is_binary(&self, content_type: Option<&str>) -> bool {
        self.all() || content_type.is_some_and(|t| self.matches(t))
    }

    /// Whether a base64-encoded answer is decoded for a client that sent
    /// `accept` (its first media type decides).
    pub fn answer_is_decoded(&self, accept: Option<&str>) -> bool {
        self.all() || accept.is_some_and(|a| self.matches(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(list: &[&str]) -> BinaryMediaTypes {
        BinaryMediaTypes::new(&list.iter().map(|t| t.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn wildcards_stand_for_a_part() {
        let types = types(&["image/*", "application/octet-stream"]);
        assert!(types.matches("image/png"));
        assert!(types.matches("IMAGE/JPEG; q=0.9"));
        assert!(types.matches("application/octet-stream"));
        assert!(!types.matches("application/json"));
        assert!(!types.matches("text/plain"));
        assert!(!types.matches("garbage"));
    }

    #[test]
    fn only_the_first_accept_entry_counts_and_a_star_accept_is_literal() {
        let types = types(&["image/png"]);
        assert!(types.answer_is_decoded(Some("image/png, text/html")));
        assert!(!types.answer_is_decoded(Some("text/html, image/png")));
        // curl's default: no decoding unless the API lists */*.
        assert!(!types.answer_is_decoded(Some("*/*")));
        assert!(!types.answer_is_decoded(None));
        let every = super::tests::types(&["*/*"]);
        assert!(every.answer_is_decoded(Some("text/html")));
        assert!(every.answer_is_decoded(None));
        assert!(every.request_is_binary(Some("application/json")));
    }

    #[test]
    fn request_bodies_are_binary_by_content_type() {
        let types = types(&["application/octet-stream"]);
        assert!(types.request_is_binary(Some("application/octet-stream")));
        assert!(!types.request_is_binary(Some("application/json")));
        assert!(!types.request_is_binary(None));
        assert!(!BinaryMediaTypes::default().request_is_binary(Some("image/png")));
    }
}
