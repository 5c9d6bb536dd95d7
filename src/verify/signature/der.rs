//! Just enough DER to take keys and certificates apart for signature checks:
//! a tag-length-value reader, SubjectPublicKeyInfo, and the three parts of a
//! certificate with the exact bytes of its `tbsCertificate` (what the
//! issuer signed: re-encoding a parsed certificate could change them).
//! Names, validity and extensions are read with x509-cert
//! ([`super::keyless`]); the signature arithmetic is aws-lc-rs, the library
//! rustls already links for HTTPS.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

/// One DER element: its tag, its content, the whole element, and what follows it.
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    pub whole: &'a [u8],
    pub rest: &'a [u8],
}

/// Read one element (definite lengths up to 4 bytes, as DER requires).
pub fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, after_tag) = input.split_first()?;
    let (&first, after_len) = after_tag.split_first()?;
    let (len, header_rest) = if first < 0x80 {
        (first as usize, after_len)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || after_len.len() < n {
            return None;
        }
        let len = after_len[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &after_len[n..])
    };
    if header_rest.len() < len {
        return None;
    }
    let header = input.len() - header_rest.len();
    Some(Tlv {
        tag,
        content: &header_rest[..len],
        whole: &input[..header + len],
        rest: &header_rest[len..],
    })
}

fn expect(input: &[u8], tag: u8) -> Option<Tlv<'_>> {
    tlv(input).filter(|t| t.tag == tag)
}

const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;
const BIT_STRING: u8 = 0x03;

/// id-ecPublicKey (1.2.840.10045.2.1).
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1 (1.2.840.10045.3.1.7).
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1 (1.3.132.0.34).
const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// id-Ed25519 (1.3.101.112), as a key and as a signature algorithm.
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// ecdsa-with-SHA256 (1.2.840.10045.4.3.2).
const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// ecdsa-with-SHA384 (1.2.840.10045.4.3.3).
const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];

/// The kinds of public key chartpin verifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
}

impl KeyKind {
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::EcdsaP256 => "ECDSA P-256",
            KeyKind::EcdsaP384 => "ECDSA P-384",
            KeyKind::Ed25519 => "Ed25519",
        }
    }
}

/// A public key: its kind and its raw bytes (an uncompressed point, or 32 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    pub kind: KeyKind,
    pub raw: Vec<u8>,
    /// The SubjectPublicKeyInfo it was read from (what a Rekor log ID hashes).
    pub spki: Vec<u8>,
}

impl PublicKey {
    /// Read a DER SubjectPublicKeyInfo; the error says what is wrong with it.
    pub fn from_spki(der: &[u8]) -> Result<PublicKey, String> {
        let outer = expect(der, SEQUENCE).ok_or("not a DER SubjectPublicKeyInfo")?;
        if !outer.rest.is_empty() {
            return Err("trailing bytes after the SubjectPublicKeyInfo".into());
        }
        let alg = expect(outer.content, SEQUENCE).ok_or("no algorithm identifier")?;
        let oid = expect(alg.content, OID).ok_or("no algorithm OID")?;
        let kind = match oid.content {
            EC_PUBLIC_KEY => {
                let curve = expect(oid.rest, OID).ok_or("an EC key without a named curve")?;
                match curve.content {
                    P256 => KeyKind::EcdsaP256,
                    P384 => KeyKind::EcdsaP384,
                    _ => return Err("an EC key on a curve other than P-256 or P-384".into()),
                }
            }
            ED25519 => KeyKind::Ed25519,
            _ => {
                return Err(
                    "a key type chartpin does not verify (ECDSA P-256, P-384 and Ed25519 only; RSA is not supported)"
                        .into(),
                );
            }
        };
        let bits = expect(alg.rest, BIT_STRING).ok_or("no public key bit string")?;
        let (&unused, key) = bits.content.split_first().ok_or("an empty public key")?;
        if unused != 0 {
            return Err("a public key bit string with unused bits".into());
        }
        let ok = match kind {
            KeyKind::EcdsaP256 => key.len() == 65 && key[0] == 4,
            KeyKind::EcdsaP384 => key.len() == 97 && key[0] == 4,
            KeyKind::Ed25519 => key.len() == 32,
        };
        if !ok {
            return Err(format!("not a valid {} public key", kind.name()));
        }
        Ok(PublicKey {
            kind,
            raw: key.to_vec(),
            spki: der.to_vec(),
        })
    }

    /// Whether `sig` is this key's signature of `message` (cosign's choice of
    /// hash: SHA-256 for P-256, SHA-384 for P-384; Ed25519 signs the message).
    pub fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
        let alg: &dyn VerificationAlgorithm = match self.kind {
            KeyKind::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
            KeyKind::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1,
            KeyKind::Ed25519 => &signature::ED25519,
        };
        UnparsedPublicKey::new(alg, &self.raw)
            .verify(message, sig)
            .is_ok()
    }

    /// Whether `sig` over `message` was made by this key with the
    /// certificate signature algorithm `alg_oid` (an issuer checking a child).
    pub fn verifies_with(&self, alg_oid: &[u8], message: &[u8], sig: &[u8]) -> bool {
        let alg: &dyn VerificationAlgorithm = match (self.kind, alg_oid) {
            (KeyKind::EcdsaP256, ECDSA_SHA256) => &signature::ECDSA_P256_SHA256_ASN1,
            (KeyKind::EcdsaP256, ECDSA_SHA384) => &signature::ECDSA_P256_SHA384_ASN1,
            (KeyKind::EcdsaP384, ECDSA_SHA384) => &signature::ECDSA_P384_SHA384_ASN1,
            (KeyKind::EcdsaP384, ECDSA_SHA256) => &signature::ECDSA_P384_SHA256_ASN1,
            (KeyKind::Ed25519, ED25519) => &signature::ED25519,
            _ => return false,
        };
        UnparsedPublicKey::new(alg, &self.raw)
            .verify(message, sig)
            .is_ok()
    }
}

/// A certificate's three parts, as bytes.
pub struct CertParts<'a> {
    /// The whole `tbsCertificate` element: what the issuer signed.
    pub tbs: &'a [u8],
    /// The signature algorithm's OID content.
    pub sig_alg: &'a [u8],
    pub signature: &'a [u8],
}

/// Split a DER certificate.
pub fn cert_parts(der: &[u8]) -> Option<CertParts<'_>> {
    let outer = expect(der, SEQUENCE)?;
    let tbs = expect(outer.content, SEQUENCE)?;
    let alg = expect(tbs.rest, SEQUENCE)?;
    let oid = expect(alg.content, OID)?;
    let bits = expect(alg.rest, BIT_STRING)?;
    let (&unused, signature) = bits.content.split_first()?;
    (unused == 0).then_some(CertParts {
        tbs: tbs.whole,
        sig_alg: oid.content,
        signature,
    })
}

/// A DER UTF8String's text (Fulcio's OIDC issuer extension, 1.3.6.1.4.1.57264.1.8).
pub fn utf8_string(der: &[u8]) -> Option<String> {
    let t = expect(der, 0x0c)?;
    t.rest
        .is_empty()
        .then(|| String::from_utf8(t.content.to_vec()).ok())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn keys_of_each_kind_are_read_and_others_refused() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        // Rekor's production key (a P-256 SubjectPublicKeyInfo).
        let p256 = b64(
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==",
        );
        assert_eq!(
            PublicKey::from_spki(&p256).unwrap().kind,
            KeyKind::EcdsaP256
        );
        let ed = b64("MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=");
        assert_eq!(PublicKey::from_spki(&ed).unwrap().kind, KeyKind::Ed25519);
        let rsa = b64(
            "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAvM/dHoi6nSy7hbKHLYUrXy6Bv35JbdoIzny5vSFiRXApr0KS56U8PugdGmh+vd7H8YNlx2YOJxzv02BlsrcmWDZcXjE3Xpsi/IHFfRZLOdwwR+u8MNFxwRUVzxyIzKGtbREVVfXPfb2Xc6FL5/tEvQtUKuR6XdzSaav2RnV5IybCB09s0Np0AUbdi5EfSe4INuqgY+VFYLjvM5onbAQLN3bFLS4Quk66Dhv93Zi6NwopwL1F07UPC5uadkyePStP3PA0OAOemj9vZADOWx5adsGCKISs8iphNC5mDVoLy8Ry49Ms3eQXRjVQOMco3YNf8AhsIdxDNBVN8VTDKVkEDwIDAQAB",
        );
        assert!(
            PublicKey::from_spki(&rsa)
                .unwrap_err()
                .contains("RSA is not supported")
        );
        assert!(PublicKey::from_spki(&p256[..40]).is_err());
        assert!(PublicKey::from_spki(b"").is_err());
    }
}
