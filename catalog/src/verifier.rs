//! mysql_native_password, server side, from a stored verifier (never the password).
//!
//! The verifier is `SHA1(SHA1(password))`, what MySQL itself stores (`PASSWORD('x')` is `'*'`
//! followed by its upper-case hex). The client answers a 20-byte scramble with
//! `SHA1(password) XOR SHA1(scramble || SHA1(SHA1(password)))`; the server recovers the candidate
//! `SHA1(password)` as `response XOR SHA1(scramble || verifier)` and accepts when
//! `SHA1(candidate) == verifier`.
//!
//! Empty passwords: clients send an empty response when the password is empty. The verifier of
//! the empty password is computed like any other (`SHA1(SHA1(""))`), and an empty response is
//! accepted exactly when the stored verifier is that value. OctoDB never creates users with an
//! empty password, so in practice an empty response is always refused.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// `SHA1(SHA1(password))`.
pub fn native_password_verifier(password: &[u8]) -> [u8; 20] {
    let stage1: [u8; 20] = Sha1::digest(password).into();
    Sha1::digest(stage1).into()
}

/// Checks a client's mysql_native_password `client_response` to `scramble` (the 20 bytes sent in
/// the handshake, without MariaDB's trailing NUL) against the stored `verifier`.
/// Constant time in the contents of the response and verifier.
pub fn verify_native_password(
    scramble: &[u8],
    client_response: &[u8],
    verifier: &[u8; 20],
) -> bool {
    if client_response.is_empty() {
        return bool::from(verifier.ct_eq(&native_password_verifier(b"")));
    }
    let Ok(response) = <&[u8; 20]>::try_from(client_response) else {
        return false;
    };
    let mut hasher = Sha1::new();
    hasher.update(scramble);
    hasher.update(verifier);
    let mask: [u8; 20] = hasher.finalize().into();
    let mut candidate = [0u8; 20];
    for ((c, r), m) in candidate.iter_mut().zip(response).zip(mask) {
        *c = r ^ m;
    }
    let check: [u8; 20] = Sha1::digest(candidate).into();
    bool::from(check.ct_eq(verifier))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client side, as mysql_common computes it (`scramble_native`).
    fn client_response(scramble: &[u8], password: &[u8]) -> Vec<u8> {
        mysql_common::scramble::scramble_native(scramble, password)
            .map(|r| r.to_vec())
            .unwrap_or_default()
    }

    #[test]
    fn verifier_matches_mariadb_password_function() {
        // MariaDB 10.11: SELECT PASSWORD('secret') = '*14E65567ABDB5135D0CFD9A70B3032C179A49EE7'
        assert_eq!(
            hex::encode_upper(native_password_verifier(b"secret")),
            "14E65567ABDB5135D0CFD9A70B3032C179A49EE7"
        );
    }

    #[test]
    fn accepts_right_password_only() {
        let scramble = *b"abcdefghij0123456789";
        let verifier = native_password_verifier(b"secret");
        let good = client_response(&scramble, b"secret");
        assert_eq!(good.len(), 20);
        assert!(verify_native_password(&scramble, &good, &verifier));

        let wrong = client_response(&scramble, b"Secret");
        assert!(!verify_native_password(&scramble, &wrong, &verifier));

        let other_scramble = *b"abcdefghij0123456788";
        assert!(!verify_native_password(&other_scramble, &good, &verifier));

        assert!(!verify_native_password(&scramble, &good[..19], &verifier));
        assert!(!verify_native_password(
            &scramble,
            &[good.as_slice(), &[0]].concat(),
            &verifier
        ));
    }

    #[test]
    fn empty_response_means_empty_password() {
        let scramble = [7u8; 20];
        assert!(client_response(&scramble, b"").is_empty());
        assert!(verify_native_password(
            &scramble,
            b"",
            &native_password_verifier(b"")
        ));
        assert!(!verify_native_password(
            &scramble,
            b"",
            &native_password_verifier(b"x")
        ));
    }

    #[test]
    fn random_scrambles() {
        use rand::RngCore;
        let mut rng = rand::thread_rng();
        for _ in 0..50 {
            let mut scramble = [0u8; 20];
            rng.fill_bytes(&mut scramble);
            let verifier = native_password_verifier(b"p4ss word");
            let resp = client_response(&scramble, b"p4ss word");
            assert!(verify_native_password(&scramble, &resp, &verifier));
        }
    }
}
