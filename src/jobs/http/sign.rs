//! Request signing in the Standard Webhooks layout, so a receiver can
//! verify that a request comes from this scheduler and was not replayed
//! long after: HMAC-SHA256 over `<webhook-id>.<webhook-timestamp>.<body>`,
//! sent as `webhook-signature: v1,<base64 signature>` beside `webhook-id`
//! and `webhook-timestamp` (Unix seconds of the attempt).
//!
//! A secret written `whsec_<base64>` (the form Standard Webhooks libraries
//! generate) signs with the decoded bytes; any other secret signs with its
//! bytes as they are.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The headers of one signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub id: String,
    pub timestamp: i64,
    /// `v1,<base64>`.
    pub signature: String,
}

/// The key a secret stands for.
pub fn key_of(secret: &str) -> Result<Vec<u8>, String> {
    match secret.strip_prefix("whsec_") {
        Some(encoded) => STANDARD
            .decode(encoded.trim())
            .map_err(|e| format!("the signing secret starts with whsec_ but is not base64: {e}")),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

/// Signs `body` sent as message `id` at `timestamp` (Unix seconds).
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Result<Signature, String> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map_err(|e| format!("the signing secret cannot key HMAC-SHA256: {e}"))?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    Ok(Signature {
        id: id.to_string(),
        timestamp,
        signature: format!("v1,{}", STANDARD.encode(digest)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The example of the Standard Webhooks specification.
        let key = key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let s = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(
            s.signature,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_plain_secret_signs_with_its_bytes() {
        assert_eq!(key_of("abc").unwrap(), b"abc");
        assert!(key_of("whsec_!!").is_err());
    }
}
