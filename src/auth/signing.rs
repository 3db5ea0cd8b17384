//! Asymmetric access-token keys (`authentication.algorithm` EdDSA or RS256): the private
//! key that signs, read from `authentication.signing_key_file` (PKCS#8 PEM; Roost never
//! generates one), earlier keys that still verify (`authentication.previous_keys`), and
//! their public halves as JWKs for `GET /.well-known/jwks.json`.
//!
//! Every key is bound to the one algorithm its type allows (Ed25519: EdDSA, RSA: RS256),
//! so a token naming another algorithm finds no key (no algorithm confusion).

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, ObjectIdentifier, PrivateKeyInfo, SecretDocument,
    SubjectPublicKeyInfoRef,
};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::named;
pub use crate::config::{SIGNING_KEY, alg_name, algorithm, algorithm_named};

const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// The PKCS#8 v1 wrapping of an Ed25519 seed (what `openssl genpkey` writes), followed by
/// the 32 seed bytes: the form jsonwebtoken signs with.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// RSA keys RS256 accepts, in bits (the rsa crate verifies up to 4096).
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;

pub const PREVIOUS_KEYS: &str = "authentication.previous_keys";
pub const ED25519_COMMAND: &str = "openssl genpkey -algorithm ed25519 -out roost-signing.pem";
pub const RSA_COMMAND: &str =
    "openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:3072 -out roost-signing.pem";

/// A key that verifies tokens: its algorithm, `kid` and public JWK (none for HS256).
pub struct Verifier {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub key: DecodingKey,
    pub jwk: Option<Value>,
}

/// The private key that signs, with its public half.
pub struct Signer {
    pub key: EncodingKey,
    pub verifier: Verifier,
}

/// What a PEM file holds.
enum Material {
    Ed25519 {
        /// The canonical PKCS#8 form (private keys only).
        pkcs8: Option<Vec<u8>>,
        public: Vec<u8>,
    },
    Rsa {
        private: Option<Box<RsaPrivateKey>>,
        public: RsaPublicKey,
    },
}

impl Material {
    fn describe(&self) -> &'static str {
        match self {
            Material::Ed25519 { .. } => "an Ed25519 key",
            Material::Rsa { .. } => "an RSA key",
        }
    }
}

/// Loads the signing key for `alg` from `path`, refusing anything but a private key of
/// that algorithm's type, and checks that it signs what its public half verifies.
pub fn load_signer(path: &Path, alg: Algorithm, kid: Option<&str>) -> anyhow::Result<Signer> {
    let setting = named(SIGNING_KEY);
    let material = read_material(path, &setting)?;
    let wrong_type = |command: &str| {
        anyhow!(
            "{setting}: {} holds {}, but {} is {}: create a key with `{command}` and point \
             {} at it",
            path.display(),
            material.describe(),
            named("authentication.algorithm"),
            alg_name(alg),
            SIGNING_KEY
        )
    };
    let key = match (alg, &material) {
        (
            Algorithm::EdDSA,
            Material::Ed25519 {
                pkcs8: Some(der), ..
            },
        ) => EncodingKey::from_ed_der(der),
        (
            Algorithm::RS256,
            Material::Rsa {
                private: Some(private),
                ..
            },
        ) => {
            let der = private
                .to_pkcs1_der()
                .map_err(|e| anyhow!("{setting}: cannot encode the RSA key: {e}"))?;
            EncodingKey::from_rsa_der(der.as_bytes())
        }
        (Algorithm::EdDSA, Material::Rsa { .. }) => return Err(wrong_type(ED25519_COMMAND)),
        (Algorithm::RS256, Material::Ed25519 { .. }) => return Err(wrong_type(RSA_COMMAND)),
        (_, Material::Ed25519 { pkcs8: None, .. } | Material::Rsa { private: None, .. }) => {
            bail!(
                "{setting}: {} holds a public key; signing needs the private key (BEGIN \
                 PRIVATE KEY). Public keys of earlier signing keys go in {}",
                path.display(),
                named(PREVIOUS_KEYS)
            )
        }
        _ => bail!(
            "{setting}: {} cannot sign {}",
            path.display(),
            alg_name(alg)
        ),
    };
    let verifier = verifier_of(&material, kid, &setting, path)?;
    // A key that cannot sign, or whose public half does not verify, fails now, not at the
    // first login.
    let probe = jsonwebtoken::crypto::sign(b"roost", &key, alg)
        .map_err(|e| anyhow!("{setting}: {} cannot sign: {e}", path.display()))?;
    let verified = jsonwebtoken::crypto::verify(&probe, b"roost", &verifier.key, alg)
        .map_err(|e| anyhow!("{setting}: {} cannot verify: {e}", path.display()))?;
    if !verified {
        bail!(
            "{setting}: {} does not verify its own signature",
            path.display()
        );
    }
    Ok(Signer { key, verifier })
}

/// Loads an earlier signing key (public or private PEM) that still verifies.
pub fn load_previous(path: &Path) -> anyhow::Result<Verifier> {
    let setting = named(PREVIOUS_KEYS);
    let material = read_material(path, &setting)?;
    verifier_of(&material, None, &setting, path)
}

/// The public half: decoding key and JWK, `kid` defaulting to the RFC 7638 thumbprint.
fn verifier_of(
    material: &Material,
    kid: Option<&str>,
    setting: &str,
    path: &Path,
) -> anyhow::Result<Verifier> {
    let (alg, key, mut jwk, thumbprint_input) = match material {
        Material::Ed25519 { public, .. } => {
            let x = URL_SAFE_NO_PAD.encode(public);
            (
                Algorithm::EdDSA,
                DecodingKey::from_ed_der(public),
                json!({ "kty": "OKP", "crv": "Ed25519", "x": x }),
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
            )
        }
        Material::Rsa { public, .. } => {
            let bits = public.n().bits();
            if !RSA_BITS.contains(&bits) {
                bail!(
                    "{setting}: {} is a {bits}-bit RSA key; RS256 needs {} to {} bits: create \
                     one with `{RSA_COMMAND}`",
                    path.display(),
                    RSA_BITS.start(),
                    RSA_BITS.end()
                );
            }
            let (n, e) = (public.n().to_bytes_be(), public.e().to_bytes_be());
            let (n64, e64) = (URL_SAFE_NO_PAD.encode(&n), URL_SAFE_NO_PAD.encode(&e));
            (
                Algorithm::RS256,
                DecodingKey::from_rsa_raw_components(&n, &e),
                json!({ "kty": "RSA", "n": n64, "e": e64 }),
                format!(r#"{{"e":"{e64}","kty":"RSA","n":"{n64}"}}"#),
            )
        }
    };
    let kid = match kid {
        Some(kid) => kid.to_string(),
        None => URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint_input.as_bytes())),
    };
    if let Some(members) = jwk.as_object_mut() {
        members.insert("alg".into(), alg_name(alg).into());
        members.insert("use".into(), "sig".into());
        members.insert("kid".into(), kid.clone().into());
    }
    Ok(Verifier {
        alg,
        kid: Some(kid),
        key,
        jwk: Some(jwk),
    })
}

fn read_material(path: &Path, setting: &str) -> anyhow::Result<Material> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("{setting}: cannot read {shown}: {e}"))?;
    let (label, document) = SecretDocument::from_pem(text.trim()).map_err(|e| {
        anyhow!(
            "{setting}: {shown} is not a PEM key file ({e}): create one with \
             `{ED25519_COMMAND}` (EdDSA) or `{RSA_COMMAND}` (RS256)"
        )
    })?;
    let der = document.as_bytes();
    let unreadable = |what: &str| format!("{setting}: {shown} is not a valid {what}");
    match label {
        "PRIVATE KEY" => {
            let info = PrivateKeyInfo::try_from(der)
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| unreadable("PKCS#8 private key"))?;
            if info.algorithm.oid == ED25519_OID {
                let seed = info
                    .private_key
                    .strip_prefix(&[0x04, 0x20][..])
                    .filter(|seed| seed.len() == 32)
                    .ok_or_else(|| anyhow!(unreadable("Ed25519 private key")))?;
                let mut pkcs8 = ED25519_PKCS8_PREFIX.to_vec();
                pkcs8.extend_from_slice(seed);
                let jwk =
                    Jwk::from_encoding_key(&EncodingKey::from_ed_der(&pkcs8), Algorithm::EdDSA)
                        .map_err(|e| anyhow!("{e}"))
                        .with_context(|| unreadable("Ed25519 private key"))?;
                let AlgorithmParameters::OctetKeyPair(params) = jwk.algorithm else {
                    bail!(unreadable("Ed25519 private key"));
                };
                let public = URL_SAFE_NO_PAD
                    .decode(params.x)
                    .map_err(|e| anyhow!("{e}"))
                    .with_context(|| unreadable("Ed25519 private key"))?;
                Ok(Material::Ed25519 {
                    pkcs8: Some(pkcs8),
                    public,
                })
            } else if info.algorithm.oid == rsa::pkcs1::ALGORITHM_OID {
                let private = RsaPrivateKey::from_pkcs8_der(der)
                    .map_err(|e| anyhow!("{e}"))
                    .with_context(|| unreadable("RSA private key"))?;
                Ok(rsa_material(private))
            } else {
                bail!(unsupported(
                    setting,
                    &shown,
                    &info.algorithm.oid.to_string()
                ))
            }
        }
        "RSA PRIVATE KEY" => {
            let private = RsaPrivateKey::from_pkcs1_der(der)
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| unreadable("RSA private key"))?;
            Ok(rsa_material(private))
        }
        "PUBLIC KEY" => {
            let info = SubjectPublicKeyInfoRef::try_from(der)
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| unreadable("public key"))?;
            if info.algorithm.oid == ED25519_OID {
                let public = info.subject_public_key.raw_bytes();
                if public.len() != 32 {
                    bail!(unreadable("Ed25519 public key"));
                }
                Ok(Material::Ed25519 {
                    pkcs8: None,
                    public: public.to_vec(),
                })
            } else if info.algorithm.oid == rsa::pkcs1::ALGORITHM_OID {
                let public = RsaPublicKey::from_public_key_der(der)
                    .map_err(|e| anyhow!("{e}"))
                    .with_context(|| unreadable("RSA public key"))?;
                Ok(Material::Rsa {
                    private: None,
                    public,
                })
            } else {
                bail!(unsupported(
                    setting,
                    &shown,
                    &info.algorithm.oid.to_string()
                ))
            }
        }
        "RSA PUBLIC KEY" => {
            let public = RsaPublicKey::from_pkcs1_der(der)
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| unreadable("RSA public key"))?;
            Ok(Material::Rsa {
                private: None,
                public,
            })
        }
        "ENCRYPTED PRIVATE KEY" => bail!(
            "{setting}: {shown} is encrypted, and Roost has no passphrase for it: write an \
             unencrypted copy with `openssl pkey -in {shown} -out roost-signing.pem` and make \
             it readable only by Roost"
        ),
        other => bail!(
            "{setting}: {shown} holds a '{other}' PEM block; Roost reads PKCS#8 keys (BEGIN \
             PRIVATE KEY): create one with `{ED25519_COMMAND}` (EdDSA) or `{RSA_COMMAND}` \
             (RS256)"
        ),
    }
}

fn rsa_material(private: RsaPrivateKey) -> Material {
    let public = private.to_public_key();
    Material::Rsa {
        private: Some(Box::new(private)),
        public,
    }
}

fn unsupported(setting: &str, shown: &impl std::fmt::Display, oid: &str) -> String {
    format!(
        "{setting}: {shown} holds a key of type {oid}, neither Ed25519 (EdDSA) nor RSA \
         (RS256): create one with `{ED25519_COMMAND}` or `{RSA_COMMAND}`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_are_named_in_any_case() {
        assert_eq!(algorithm_named("eddsa").map(|a| a.0), Some("EdDSA"));
        assert_eq!(algorithm_named(" rs256 ").map(|a| a.0), Some("RS256"));
        assert_eq!(algorithm_named("HS256").map(|a| a.0), Some("HS256"));
        assert!(algorithm_named("none").is_none());
        assert!(algorithm_named("ES256").is_none());
        let e = algorithm("none").unwrap_err().to_string();
        assert!(
            e.contains("authentication.algorithm (ROOST_AUTHENTICATION__ALGORITHM)"),
            "{e}"
        );
    }

    #[test]
    fn ed25519_keys_get_their_rfc8037_thumbprint() {
        // RFC 8037 appendix A.1/A.3: the test key and its JWK thumbprint.
        let public = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        let verifier = verifier_of(
            &Material::Ed25519 {
                pkcs8: None,
                public,
            },
            None,
            "x",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(
            verifier.kid.as_deref(),
            Some("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        );
        let jwk = verifier.jwk.unwrap();
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "EdDSA");
    }
}
