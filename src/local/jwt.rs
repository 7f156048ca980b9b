//! What API Gateway's Cognito user pool authorizer checks of a token,
//! for `slx dev`: an RS256 JWT signed by a key of the pool's JWKS (a
//! local copy, `slx dev --jwks FILE`; or not checked at all with
//! `--trust-jwt`, said loudly), issued by one of the authorizer's pools,
//! not expired, and, when the route names scopes, an access token
//! holding every one of them (else an ID token). jsonwebtoken reads the
//! JWKS and checks the signature (over ring, which the HTTPS stack
//! already builds); the claims are checked here, as API Gateway does.
//! <https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html>
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-integrate-with-cognito.html>
//!
//! Pure: the time is passed in.

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde_json::Value;

/// The public keys of a user pool (`.well-known/jwks.json`), its RSA
/// keys read by jsonwebtoken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwks {
    keys: JwkSet,
}

impl Jwks {
    /// Reads a JWKS document: `{"keys": [{"kid", "kty": "RSA", "n", "e"}]}`.
    pub fn parse(text: &str) -> Result<Jwks, String> {
        let mut keys: JwkSet =
            serde_json::from_str(text).map_err(|e| format!("not a JWKS document: {e}"))?;
        keys.keys
            .retain(|key| matches!(key.algorithm, AlgorithmParameters::RSA(_)));
        if keys.keys.is_empty() {
            return Err("no RSA key".into());
        }
        Ok(Jwks { keys })
    }
}

/// How tokens are checked: against keys, or (dev only) not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signatures {
    Verified(Jwks),
    Trusted,
}

/// `https://cognito-idp.REGION.amazonaws.com/POOL_ID`: the `iss` of a
/// pool's tokens, from the pool's ARN.
pub fn issuer_of(pool_arn: &str) -> Option<String> {
    let parts: Vec<&str> = pool_arn.splitn(6, ':').collect();
    let [_, _, _, region, _, rest] = parts.as_slice() else {
        return None;
    };
    let id = rest.strip_prefix("userpool/")?;
    Some(format!("https://cognito-idp.{region}.amazonaws.com/{id}"))
}

/// The token's claims when API Gateway would accept it for a route of
/// an authorizer of `pools` requiring `scopes`; else why not.
pub fn check(
    token: &str,
    signatures: &Signatures,
    pools: &[String],
    scopes: &[String],
    now_s: u64,
) -> Result<Value, String> {
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    let claims = match signatures {
        Signatures::Verified(jwks) => verified(token, jwks)?,
        Signatures::Trusted => {
            let mut validation = validation();
            validation.insecure_disable_signature_validation();
            decoded(token, &DecodingKey::from_secret(&[]), &validation)?
        }
    };
    let issuer = claims["iss"].as_str().unwrap_or_default();
    if !pools
        .iter()
        .filter_map(|pool| issuer_of(pool))
        .any(|accepted| accepted == issuer)
    {
        return Err(format!(
            "issued by `{issuer}`, not by a pool of the authorizer"
        ));
    }
    match claims["exp"].as_u64() {
        Some(exp) if exp > now_s => {}
        Some(_) => return Err("expired".into()),
        None => return Err("no `exp`".into()),
    }
    let token_use = claims["token_use"].as_str().unwrap_or_default();
    if scopes.is_empty() {
        if token_use != "id" {
            return Err(format!(
                "a `{token_use}` token where the route (no scopes) takes an ID token"
            ));
        }
    } else {
        if token_use != "access" {
            return Err(format!(
                "a `{token_use}` token where the route (with scopes) takes an access token"
            ));
        }
        let held: Vec<&str> = claims["scope"]
            .as_str()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        if let Some(missing) = scopes.iter().find(|s| !held.contains(&s.as_str())) {
            return Err(format!("the token lacks scope `{missing}`"));
        }
    }
    Ok(claims)
}

/// The checks jsonwebtoken makes here: the signature, RS256 only. The
/// claims API Gateway checks (issuer, expiry at `now_s`, use, scopes)
/// are `check`'s, against the time it is given.
fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation
}

/// The claims of `token` when a key of `jwks` signed it.
fn verified(token: &str, jwks: &Jwks) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| refusal(&e))?;
    if header.alg != Algorithm::RS256 {
        return Err(format!("alg {:?} is not RS256", header.alg));
    }
    let kid = header.kid.unwrap_or_default();
    let jwk = jwks
        .keys
        .find(&kid)
        .ok_or_else(|| format!("no key `{kid}` in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key `{kid}`: {e}"))?;
    decoded(token, &key, &validation())
}

fn decoded(token: &str, key: &DecodingKey, validation: &Validation) -> Result<Value, String> {
    jsonwebtoken::decode::<Value>(token, key, validation)
        .map(|data| data.claims)
        .map_err(|e| refusal(&e))
}

/// Why jsonwebtoken refused a token, in `check`'s words.
fn refusal(error: &jsonwebtoken::errors::Error) -> String {
    match error.kind() {
        ErrorKind::InvalidSignature => "the signature does not match the key".into(),
        ErrorKind::InvalidAlgorithm => "alg is not RS256".into(),
        ErrorKind::InvalidToken => "not a JWT (three dot-separated parts)".into(),
        ErrorKind::Base64(_) => "not base64url".into(),
        ErrorKind::Json(e) => format!("the token is not JSON: {e}"),
        other => format!("not a valid token: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POOL: &str = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Abc";

    fn encode(value: &Value) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn unsigned(claims: Value) -> String {
        format!(
            "{}.{}.c2ln",
            encode(&serde_json::json!({"alg": "RS256", "kid": "k1"})),
            encode(&claims)
        )
    }

    #[test]
    fn pools_give_their_issuer() {
        assert_eq!(
            issuer_of(POOL).as_deref(),
            Some("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc")
        );
    }

    #[test]
    fn trusted_tokens_are_still_checked_for_issuer_expiry_use_and_scopes() {
        let iss = issuer_of(POOL).unwrap();
        let pools = [POOL.to_string()];
        let id =
            unsigned(serde_json::json!({"iss": iss, "exp": 2000, "token_use": "id", "sub": "u1"}));
        let claims = check(&id, &Signatures::Trusted, &pools, &[], 1000).unwrap();
        assert_eq!(claims["sub"], "u1");
        assert_eq!(
            check(&id, &Signatures::Trusted, &pools, &[], 3000).unwrap_err(),
            "expired"
        );
        assert!(
            check(
                &id,
                &Signatures::Trusted,
                &pools,
                &["orders/read".into()],
                1000
            )
            .unwrap_err()
            .contains("takes an access token")
        );
        let access = unsigned(
            serde_json::json!({"iss": iss, "exp": 2000, "token_use": "access", "scope": "orders/read openid"}),
        );
        assert!(
            check(
                &access,
                &Signatures::Trusted,
                &pools,
                &["orders/read".into()],
                1000
            )
            .is_ok()
        );
        assert_eq!(
            check(
                &access,
                &Signatures::Trusted,
                &pools,
                &["orders/write".into()],
                1000
            )
            .unwrap_err(),
            "the token lacks scope `orders/write`"
        );
        let other =
            unsigned(serde_json::json!({"iss": "https://evil", "exp": 2000, "token_use": "id"}));
        assert!(
            check(&other, &Signatures::Trusted, &pools, &[], 1000)
                .unwrap_err()
                .contains("not by a pool")
        );
        assert!(check("nope", &Signatures::Trusted, &pools, &[], 1000).is_err());
    }

    #[test]
    fn a_token_signed_by_the_pools_key_is_verified() {
        let jwks = Jwks::parse(include_str!("../../tests/it/fixtures/cognito/jwks.json")).unwrap();
        let tokens: Value =
            serde_json::from_str(include_str!("../../tests/it/fixtures/cognito/tokens.json"))
                .unwrap();
        let pools = [
            "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_SlxTest1".to_string(),
        ];
        let signatures = Signatures::Verified(jwks);
        let id = tokens["id"].as_str().unwrap();
        let claims = check(id, &signatures, &pools, &[], 1_800_000_000).unwrap();
        assert_eq!(claims["email"], "ada@example.com");
        // One changed character of the claims: refused.
        let (head, rest) = id.split_once('.').unwrap();
        let forged = format!("{head}.{}", rest.replacen('e', "f", 1));
        assert!(check(&forged, &signatures, &pools, &[], 1_800_000_000).is_err());
        let access = tokens["access"].as_str().unwrap();
        assert!(
            check(
                access,
                &signatures,
                &pools,
                &["orders/read".into()],
                1_800_000_000
            )
            .is_ok()
        );
    }

    #[test]
    fn a_verified_token_needs_a_matching_key_and_signature() {
        let jwks =
            Jwks::parse(r#"{"keys":[{"kid":"k1","kty":"RSA","n":"sXch","e":"AQAB"}]}"#).unwrap();
        let iss = issuer_of(POOL).unwrap();
        let token = unsigned(serde_json::json!({"iss": iss, "exp": 2000, "token_use": "id"}));
        let verdict = check(
            &token,
            &Signatures::Verified(jwks),
            &[POOL.into()],
            &[],
            1000,
        );
        assert_eq!(verdict.unwrap_err(), "the signature does not match the key");
        assert!(Jwks::parse(r#"{"keys":[]}"#).is_err());
    }
}
