//! Signed notes as specified by C2SP signed-note (<https://c2sp.org/signed-note>),
//! with Ed25519 keys (signature type `0x01`).
//!
//! A signed note is UTF-8 text ending in a newline, a blank line, and one or
//! more signature lines `— <key name> base64(key ID || signature)`. The text
//! MUST be ignored until [`Note::verify`] has succeeded against a trusted key.
//!
//! Keys travel as the text encodings introduced by Go's `sumdb/note` and
//! referenced by the C2SP specs as "vkeys":
//! `<name>+<hex key ID>+base64(type || public key)` for verifiers and
//! `PRIVATE+KEY+<name>+<hex key ID>+base64(type || seed)` for signers.
//!
//! What this module deliberately does not do:
//! - It verifies only Ed25519 (`0x01`) signatures. Other types (ECDSA,
//!   cosignatures `0x04`, RFC 6962 tree head signatures, ML-DSA) have key IDs
//!   computed with another type byte, so they never match a [`NoteVerifier`]:
//!   they are kept in [`Note::signatures`] and ignored by [`Note::verify`], as
//!   the spec requires for unknown keys. Ed25519 cosignatures are checked by
//!   [`crate::cosignature`].
//! - It does not merge, replace or de-duplicate existing signatures when
//!   signing (Go's `note.Sign` does): [`Note::sign`] signs a fresh text.
//! - It does not repair input: CRLF line endings, a missing final newline,
//!   non-canonical base64 or a note over [`MAX_NOTE_SIZE`] bytes are errors.
//! - It keeps no trust policy (which keys, how many signatures, key rotation):
//!   the caller chooses the verifiers it passes in.
//! - It does not zeroize secret key material beyond what `ed25519-dalek` does
//!   for its own `SigningKey`.

use std::fmt;

use crate::sha256::Sha256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

/// Signature type identifier byte of plain Ed25519 note signatures.
// C2SP signed-note §Signature types: `0x01` — Ed25519 signatures.
pub const SIGNATURE_TYPE_ED25519: u8 = 0x01;

/// Largest number of signature lines [`Note::parse`] accepts.
// C2SP signed-note §Format: verifiers SHOULD limit the number of signatures
// but MUST accept at least 16. 100 is the limit of Go's `sumdb/note`.
pub const MAX_SIGNATURES: usize = 100;

/// Largest encoded note, in bytes, that [`Note::parse`] accepts and
/// [`Note::sign`] produces. Leaves room for [`MAX_SIGNATURES`] post-quantum
/// signatures of nearly 5 kB each (C2SP signed-note §Format).
pub const MAX_NOTE_SIZE: usize = 1 << 20;

/// A key ID: the first four bytes of SHA-256 over the key name, a newline,
/// the signature type byte and the public key (big-endian `u32` on the wire).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct KeyHash(pub [u8; 4]);

impl KeyHash {
    /// Computes the key ID recommended by the spec for `name`, the signature
    /// type byte and the encoded public key.
    pub fn compute(name: &str, signature_type: u8, public_key: &[u8]) -> KeyHash {
        // C2SP signed-note §Signatures:
        // key ID = SHA-256(key name || 0x0A || signature type || public key)[:4]
        let mut hasher = Sha256::new();
        hasher.update(name.as_bytes());
        hasher.update([b'\n', signature_type]);
        hasher.update(public_key);
        let digest = hasher.finalize();
        KeyHash([digest[0], digest[1], digest[2], digest[3]])
    }

    /// The key ID as the big-endian `u32` the spec describes.
    pub fn to_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }
}

impl fmt::Display for KeyHash {
    /// Eight lowercase hex digits, as in verifier key strings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.to_u32())
    }
}

/// An Ed25519 note signing key with its key name.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_hash: KeyHash,
    key: SigningKey,
}

impl NoteSigner {
    /// A signer for `name`, which must be a valid key name (non-empty, no
    /// `+`, no Unicode space, no ASCII control character).
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        validate_key_name(name)?;
        let key_hash =
            KeyHash::compute(name, SIGNATURE_TYPE_ED25519, key.verifying_key().as_bytes());
        Ok(NoteSigner {
            name: name.to_owned(),
            key_hash,
            key,
        })
    }

    /// A signer for `name` with a fresh key from the thread-local CSPRNG.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        NoteSigner::new(name, SigningKey::generate(&mut rand::rng()))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID of the public key (signature type `0x01`).
    pub fn key_hash(&self) -> KeyHash {
        self.key_hash
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_hash: self.key_hash,
            key: self.key.verifying_key(),
        }
    }

    /// The secret signer key string
    /// `PRIVATE+KEY+<name>+<hex key ID>+base64(0x01 || 32-byte seed)`.
    /// Anyone holding it can sign as this key.
    pub fn to_signer_key_string(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(SIGNATURE_TYPE_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "{PRIVATE_KEY_PREFIX}{}+{}+{}",
            self.name,
            self.key_hash,
            BASE64.encode(&raw)
        )
    }

    /// Parses a signer key string (see [`NoteSigner::to_signer_key_string`]),
    /// checking that its key ID matches the public key derived from the seed.
    /// Error messages never include key material.
    pub fn from_signer_key_string(s: &str) -> Result<Self, NoteError> {
        let rest = s
            .strip_prefix(PRIVATE_KEY_PREFIX)
            .ok_or(NoteError::MalformedSignerKey {
                reason: "missing PRIVATE+KEY+ prefix",
            })?;
        let decoded = decode_key_string(rest, KeyKind::Signer, SIGNATURE_TYPE_ED25519)?;
        let signer = NoteSigner::new(decoded.name, SigningKey::from_bytes(&decoded.key))?;
        if signer.key_hash != decoded.key_hash {
            return Err(NoteError::KeyHashMismatch {
                name: signer.name,
                declared: decoded.key_hash,
                computed: signer.key_hash,
            });
        }
        Ok(signer)
    }

    /// A raw Ed25519 signature over `msg` (no note framing).
    pub fn sign_bytes(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_hash", &self.key_hash)
            .finish_non_exhaustive()
    }
}

/// An Ed25519 note verification key with its key name and key ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_hash: KeyHash,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier for `name`, which must be a valid key name.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        validate_key_name(name)?;
        Ok(NoteVerifier {
            name: name.to_owned(),
            key_hash: KeyHash::compute(name, SIGNATURE_TYPE_ED25519, key.as_bytes()),
            key,
        })
    }

    /// Parses `<name>+<hex key ID>+base64(0x01 || 32-byte public key)`,
    /// checking that the key ID matches the name and key.
    pub fn from_verifier_key_string(s: &str) -> Result<Self, NoteError> {
        let (name, key_hash, key) = decode_verifier_key(s, SIGNATURE_TYPE_ED25519)?;
        Ok(NoteVerifier {
            name,
            key_hash,
            key,
        })
    }

    /// The verifier key string, the inverse of
    /// [`NoteVerifier::from_verifier_key_string`].
    pub fn to_verifier_key_string(&self) -> String {
        encode_verifier_key(&self.name, self.key_hash, SIGNATURE_TYPE_ED25519, &self.key)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_hash(&self) -> KeyHash {
        self.key_hash
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Checks a raw Ed25519 signature over `msg` (no note framing), with
    /// `ed25519-dalek`'s strict verification.
    pub fn verify_bytes(&self, msg: &[u8], signature: &[u8]) -> bool {
        verify_ed25519(&self.key, msg, signature)
    }
}

/// One signature line of a note. `signature` excludes the 4-byte key ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_hash: KeyHash,
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line `— <name> base64(key ID || signature)\n`.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_hash.0);
        raw.extend_from_slice(&self.signature);
        // C2SP signed-note §Format: em dash, space, key name, space, base64 signature, newline.
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, BASE64.encode(&raw))
    }
}

/// A note text and its signature lines, verified or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The signed text, including its final newline.
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note strictly; no signature is checked.
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        if bytes.len() > MAX_NOTE_SIZE {
            return Err(NoteError::NoteTooLarge {
                size: bytes.len(),
                max: MAX_NOTE_SIZE,
            });
        }
        // C2SP signed-note §Format: signed notes MUST be valid UTF-8 ...
        let s = std::str::from_utf8(bytes).map_err(|_| NoteError::MalformedNote {
            reason: "not valid UTF-8",
        })?;
        // ... and MUST NOT contain any ASCII control characters other than newline.
        if contains_control_character(s) {
            return Err(NoteError::MalformedNote {
                reason: "contains an ASCII control character other than newline",
            });
        }
        // C2SP signed-note §Format: the text is separated from the signatures
        // by the last empty line; the text includes its final newline.
        let split = s.rfind("\n\n").ok_or(NoteError::MalformedNote {
            reason: "no blank line between text and signatures",
        })?;
        let (text, block) = (&s[..=split], &s[split + 2..]);
        // C2SP signed-note §Format: one or more signature lines, each ending in a newline.
        let block = block.strip_suffix('\n').ok_or(NoteError::MalformedNote {
            reason: if block.is_empty() {
                "no signature lines"
            } else {
                "last signature line does not end with a newline"
            },
        })?;
        let lines: Vec<&str> = block.split('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count: lines.len(),
                max: MAX_SIGNATURES,
            });
        }
        let signatures = lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                parse_signature_line(line).map_err(|reason| NoteError::MalformedSignatureLine {
                    line: i + 1,
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The encoded note: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + 1 + 128 * self.signatures.len());
        out.extend_from_slice(self.text.as_bytes());
        out.push(b'\n');
        for signature in &self.signatures {
            out.extend_from_slice(signature.to_line().as_bytes());
        }
        out
    }

    /// Signs `text` with each signer, in order. `text` must end with a
    /// newline and contain no ASCII control character other than newline.
    pub fn sign(text: &str, signers: &[&NoteSigner]) -> Result<Note, NoteError> {
        // C2SP signed-note §Format: a text ending in newline (U+000A).
        if !text.ends_with('\n') {
            return Err(NoteError::MalformedNote {
                reason: "text does not end with a newline",
            });
        }
        if contains_control_character(text) {
            return Err(NoteError::MalformedNote {
                reason: "text contains an ASCII control character other than newline",
            });
        }
        if signers.is_empty() {
            return Err(NoteError::MalformedNote {
                reason: "a signed note needs at least one signature",
            });
        }
        if signers.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count: signers.len(),
                max: MAX_SIGNATURES,
            });
        }
        // C2SP signed-note §Ed25519 signatures: generated according to RFC 8032 over the note text.
        let note = Note {
            text: text.to_owned(),
            signatures: signers
                .iter()
                .map(|signer| NoteSignature {
                    name: signer.name.clone(),
                    key_hash: signer.key_hash,
                    signature: signer.sign_bytes(text.as_bytes()).to_vec(),
                })
                .collect(),
        };
        let size = note.to_bytes().len();
        if size > MAX_NOTE_SIZE {
            return Err(NoteError::NoteTooLarge {
                size,
                max: MAX_NOTE_SIZE,
            });
        }
        Ok(note)
    }

    /// Returns the signatures that verified under `verifiers` (matched by key
    /// name and key ID, then checked with Ed25519), at most one per key.
    ///
    /// Signatures from unknown keys are ignored. A signature from a known key
    /// that fails to verify rejects the whole note
    /// ([`NoteError::BadSignature`]); so does a repeated signature from a known
    /// key if any copy fails. No verified signature is
    /// [`NoteError::NoKnownSignature`]. Two verifiers with the same name and
    /// key ID but different keys are [`NoteError::AmbiguousKey`].
    pub fn verify(&self, verifiers: &[NoteVerifier]) -> Result<Vec<&NoteSignature>, NoteError> {
        let mut verified: Vec<&NoteSignature> = Vec::new();
        for signature in &self.signatures {
            let mut known = verifiers
                .iter()
                .filter(|v| v.name == signature.name && v.key_hash == signature.key_hash);
            // C2SP signed-note §Signatures: verifiers MUST ignore signatures from unknown keys,
            // even if they share a name or ID (but not both) with a known key.
            let Some(verifier) = known.next() else {
                continue;
            };
            if known.any(|other| other.key != verifier.key) {
                return Err(NoteError::AmbiguousKey {
                    name: signature.name.clone(),
                    key_hash: signature.key_hash,
                });
            }
            // C2SP signed-note §Signatures: if the key name and ID match a known key, verifiers
            // MUST verify the signature; if it fails, clients SHOULD reject the whole note.
            if !verifier.verify_bytes(self.text.as_bytes(), &signature.signature) {
                return Err(NoteError::BadSignature {
                    name: signature.name.clone(),
                    key_hash: signature.key_hash,
                });
            }
            if !verified
                .iter()
                .any(|s| s.name == signature.name && s.key_hash == signature.key_hash)
            {
                verified.push(signature);
            }
        }
        // C2SP signed-note §Signatures: if no signature from a known key verifies, clients MUST
        // reject the note.
        if verified.is_empty() {
            return Err(NoteError::NoKnownSignature);
        }
        Ok(verified)
    }
}

/// Errors from parsing, signing and verifying notes and keys. Messages never
/// contain secret key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoteError {
    #[error("malformed note: {reason}")]
    MalformedNote { reason: &'static str },
    #[error("malformed note: signature line {line}: {reason}")]
    MalformedSignatureLine { line: usize, reason: &'static str },
    #[error("note is {size} bytes, more than the limit of {max}")]
    NoteTooLarge { size: usize, max: usize },
    #[error("note has {count} signatures, more than the limit of {max}")]
    TooManySignatures { count: usize, max: usize },
    #[error(
        "invalid key name {name:?}: must be non-empty, without '+', spaces or control characters"
    )]
    InvalidKeyName { name: String },
    #[error("malformed signer key: {reason}")]
    MalformedSignerKey { reason: &'static str },
    #[error("malformed verifier key: {reason}")]
    MalformedVerifierKey { reason: &'static str },
    #[error("unsupported signature type 0x{byte:02x}")]
    UnsupportedAlgorithm { byte: u8 },
    #[error(
        "key ID {declared} given for key {name:?} does not match its computed key ID {computed}"
    )]
    KeyHashMismatch {
        name: String,
        declared: KeyHash,
        computed: KeyHash,
    },
    #[error("two different verifier keys share the name {name:?} and key ID {key_hash}")]
    AmbiguousKey { name: String, key_hash: KeyHash },
    #[error("invalid signature by known key {name}+{key_hash}")]
    BadSignature { name: String, key_hash: KeyHash },
    #[error("note has no valid signature from a known key")]
    NoKnownSignature,
}

const SIGNATURE_PREFIX: &str = "\u{2014} ";
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Checks a key name: non-empty, no `+`, no Unicode space, no ASCII control
/// character.
pub(crate) fn validate_key_name(name: &str) -> Result<(), NoteError> {
    // C2SP signed-note §Format: key names MUST be non-empty and MUST NOT contain any Unicode
    // spaces or plus (U+002B) characters. Control characters may not appear in a note at all
    // (§Format), so a name holding one could never be used in a signature line.
    let valid = !name.is_empty()
        && !name
            .chars()
            .any(|c| c == '+' || c.is_whitespace() || u32::from(c) < 0x20);
    if valid {
        Ok(())
    } else {
        Err(NoteError::InvalidKeyName {
            name: name.to_owned(),
        })
    }
}

/// Parses `<name>+<hex key ID>+base64(signature_type || 32-byte key)` and
/// checks the key ID.
pub(crate) fn decode_verifier_key(
    s: &str,
    signature_type: u8,
) -> Result<(String, KeyHash, VerifyingKey), NoteError> {
    let decoded = decode_key_string(s, KeyKind::Verifier, signature_type)?;
    let computed = KeyHash::compute(decoded.name, signature_type, &decoded.key);
    if computed != decoded.key_hash {
        return Err(NoteError::KeyHashMismatch {
            name: decoded.name.to_owned(),
            declared: decoded.key_hash,
            computed,
        });
    }
    let key =
        VerifyingKey::from_bytes(&decoded.key).map_err(|_| NoteError::MalformedVerifierKey {
            reason: "not a valid Ed25519 public key",
        })?;
    Ok((decoded.name.to_owned(), decoded.key_hash, key))
}

/// Formats `<name>+<hex key ID>+base64(signature_type || 32-byte key)`.
pub(crate) fn encode_verifier_key(
    name: &str,
    key_hash: KeyHash,
    signature_type: u8,
    key: &VerifyingKey,
) -> String {
    let mut raw = Vec::with_capacity(33);
    raw.push(signature_type);
    raw.extend_from_slice(key.as_bytes());
    format!("{name}+{key_hash}+{}", BASE64.encode(&raw))
}

/// Strict Ed25519 verification of a raw signature of any length.
pub(crate) fn verify_ed25519(key: &VerifyingKey, msg: &[u8], signature: &[u8]) -> bool {
    let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    key.verify_strict(msg, &Signature::from_bytes(&bytes))
        .is_ok()
}

/// Whether `s` has an ASCII control character other than newline.
pub(crate) fn contains_control_character(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 && b != b'\n')
}

#[derive(Clone, Copy)]
enum KeyKind {
    Signer,
    Verifier,
}

impl KeyKind {
    fn malformed(self, reason: &'static str) -> NoteError {
        match self {
            KeyKind::Signer => NoteError::MalformedSignerKey { reason },
            KeyKind::Verifier => NoteError::MalformedVerifierKey { reason },
        }
    }
}

struct DecodedKey<'a> {
    name: &'a str,
    key_hash: KeyHash,
    key: [u8; 32],
}

/// Splits `<name>+<8 hex digits>+base64(type || 32 bytes)` (the base64 part
/// may itself contain `+`) and checks every part except the key ID.
fn decode_key_string(
    s: &str,
    kind: KeyKind,
    signature_type: u8,
) -> Result<DecodedKey<'_>, NoteError> {
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(hash_hex), Some(key_base64)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(kind.malformed("expected <name>+<key ID>+<key>"));
    };
    validate_key_name(name)?;
    let mut key_hash = [0u8; 4];
    if hash_hex.len() != 8 || hex::decode_to_slice(hash_hex, &mut key_hash).is_err() {
        return Err(kind.malformed("key ID is not 8 hex digits"));
    }
    let raw = BASE64
        .decode(key_base64)
        .map_err(|_| kind.malformed("key is not canonical standard base64"))?;
    match raw.split_first() {
        None => Err(kind.malformed("key is empty")),
        Some((&found, _)) if found != signature_type => {
            Err(NoteError::UnsupportedAlgorithm { byte: found })
        }
        Some((_, key)) => <[u8; 32]>::try_from(key)
            .map(|key| DecodedKey {
                name,
                key_hash: KeyHash(key_hash),
                key,
            })
            .map_err(|_| kind.malformed("Ed25519 key is not 32 bytes")),
    }
}

/// Parses one signature line (without its newline).
fn parse_signature_line(line: &str) -> Result<NoteSignature, &'static str> {
    // C2SP signed-note §Format: em dash (U+2014), space, key name, space, base64 signature.
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or("does not start with an em dash and a space")?;
    let (name, encoded) = rest
        .split_once(' ')
        .ok_or("no space between key name and signature")?;
    validate_key_name(name).map_err(|_| "invalid key name")?;
    let raw = BASE64
        .decode(encoded)
        .map_err(|_| "signature is not canonical standard base64")?;
    // C2SP signed-note §Format: the base64 encoding of 4+n bytes; the first four are the key ID.
    if raw.len() < 5 {
        return Err("signature is shorter than a key ID and one byte");
    }
    let (key_hash, signature) = raw.split_at(4);
    Ok(NoteSignature {
        name: name.to_owned(),
        key_hash: KeyHash([key_hash[0], key_hash[1], key_hash[2], key_hash[3]]),
        signature: signature.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Vectors from golang.org/x/mod/sumdb/note (note.go package doc and
    // note_test.go: TestNewVerifier, TestNewSigner, TestSign, TestOpen).
    const PETER_VKEY: &str = include_str!("../testdata/note/peterneumann.vkey");
    const PETER_SKEY: &str = include_str!("../testdata/note/peterneumann.skey");
    const ENOCH_VKEY: &str = include_str!("../testdata/note/enochroot.vkey");
    const PETER_NOTE: &str = include_str!("../testdata/note/peterneumann.note");
    const PETER_ENOCH_NOTE: &str = include_str!("../testdata/note/peterneumann_enochroot.note");
    // The example at the top of the C2SP signed-note spec (c2sp.org/signed-note).
    const C2SP_EXAMPLE_NOTE: &str = include_str!("../testdata/note/c2sp_signed_note_example.note");
    // A type 0x01 vkey from transparency-dev/formats note/note_cosigv1_test.go
    // (TestCoSigV1NewVerifier, "works: convert from algEd25519").
    const TD_TEST_VKEY: &str = include_str!("../testdata/note/transparency_dev_test_ed25519.vkey");

    const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                              then you don't know what your problem is.\n";

    fn peter_verifier() -> NoteVerifier {
        NoteVerifier::from_verifier_key_string(PETER_VKEY.trim_end()).expect("Go test vkey")
    }

    fn enoch_verifier() -> NoteVerifier {
        NoteVerifier::from_verifier_key_string(ENOCH_VKEY.trim_end()).expect("Go test vkey")
    }

    /// The signature lines of `note`, each with its final newline.
    fn signature_lines(note: &str) -> Vec<String> {
        let (_, block) = note.rsplit_once("\n\n").expect("vector has a blank line");
        block.lines().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn go_vector_verifier_key_parses_and_round_trips() {
        let v = peter_verifier();
        assert_eq!(v.name(), "PeterNeumann");
        assert_eq!(v.key_hash(), KeyHash([0xc7, 0x4f, 0x20, 0xa3]));
        assert_eq!(v.key_hash().to_u32(), 0xc74f20a3);
        assert_eq!(v.to_verifier_key_string(), PETER_VKEY.trim_end());
        assert_eq!(
            NoteVerifier::new("PeterNeumann", *v.verifying_key()).unwrap(),
            v
        );
    }

    #[test]
    fn go_vector_signer_key_matches_verifier_key() {
        let s = NoteSigner::from_signer_key_string(PETER_SKEY.trim_end()).unwrap();
        assert_eq!(s.name(), "PeterNeumann");
        assert_eq!(s.verifier(), peter_verifier());
        assert_eq!(s.to_signer_key_string(), PETER_SKEY.trim_end());
    }

    #[test]
    fn signer_debug_does_not_show_the_key() {
        let s = NoteSigner::from_signer_key_string(PETER_SKEY.trim_end()).unwrap();
        let debug = format!("{s:?}");
        assert!(debug.contains("PeterNeumann"));
        assert!(!debug.contains("AYEKFALV"));
        // The seed starts 0x81 0x0a 0x14.
        assert!(!debug.contains("129, 10, 20"));
    }

    #[test]
    fn go_vector_mangled_verifier_keys_are_rejected() {
        // Every proper substring and every single-byte increment of the Go
        // test vkey must fail, as in Go's TestNewVerifier.
        let vkey = PETER_VKEY.trim_end().as_bytes();
        for i in 0..=vkey.len() {
            for j in i + 1..=vkey.len() {
                if i == 0 && j == vkey.len() {
                    continue;
                }
                let s = std::str::from_utf8(&vkey[i..j]).unwrap();
                assert!(NoteVerifier::from_verifier_key_string(s).is_err(), "{s}");
            }
        }
        let mut b = vkey.to_vec();
        for i in 0..b.len() {
            b[i] += 1;
            let s = std::str::from_utf8(&b).unwrap();
            assert!(NoteVerifier::from_verifier_key_string(s).is_err(), "{s}");
            b[i] -= 1;
        }
    }

    #[test]
    fn go_vector_wrong_length_and_unknown_algorithm_keys() {
        // From Go's TestNewVerifier: both carry a key ID adjusted to match.
        // Go's decoder tolerates the non-zero trailing bits of "EY==" and
        // fails on the length; the strict decoder here fails earlier.
        assert_eq!(
            NoteVerifier::from_verifier_key_string(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            ),
            Err(NoteError::MalformedVerifierKey {
                reason: "key is not canonical standard base64"
            })
        );
        // A canonical 33-byte key with a matching key ID fails on the length.
        let mut long = vec![SIGNATURE_TYPE_ED25519];
        long.extend_from_slice(peter_verifier().verifying_key().as_bytes());
        long.push(0);
        let hash = KeyHash::compute("PeterNeumann", SIGNATURE_TYPE_ED25519, &long[1..]);
        assert_eq!(
            NoteVerifier::from_verifier_key_string(&format!(
                "PeterNeumann+{hash}+{}",
                BASE64.encode(&long)
            )),
            Err(NoteError::MalformedVerifierKey {
                reason: "Ed25519 key is not 32 bytes"
            })
        );
        assert_eq!(
            NoteVerifier::from_verifier_key_string(
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(NoteError::UnsupportedAlgorithm { byte: 0x65 })
        );
    }

    #[test]
    fn verifier_key_errors() {
        let key_part = "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        assert!(matches!(
            NoteVerifier::from_verifier_key_string(&format!("PeterNeumann+c74f20a4+{key_part}")),
            Err(NoteError::KeyHashMismatch {
                declared: KeyHash([0xc7, 0x4f, 0x20, 0xa4]),
                ..
            })
        ));
        assert!(matches!(
            NoteVerifier::from_verifier_key_string(&format!("Peter Neumann+c74f20a3+{key_part}")),
            Err(NoteError::InvalidKeyName { .. })
        ));
        assert!(matches!(
            NoteVerifier::from_verifier_key_string(&format!("PeterNeumann+c74f20a+{key_part}")),
            Err(NoteError::MalformedVerifierKey { .. })
        ));
        assert!(matches!(
            NoteVerifier::from_verifier_key_string("PeterNeumann+c74f20a3+ARpc2Qc!"),
            Err(NoteError::MalformedVerifierKey { .. })
        ));
        assert!(matches!(
            NoteVerifier::from_verifier_key_string("PeterNeumann+c74f20a3"),
            Err(NoteError::MalformedVerifierKey { .. })
        ));
        // A signer key string is not a verifier key (and the error leaks nothing).
        let err = NoteVerifier::from_verifier_key_string(PETER_SKEY.trim_end()).unwrap_err();
        assert!(!err.to_string().contains("AYEKFALV"));
    }

    #[test]
    fn go_vector_mangled_signer_keys_are_rejected() {
        let skey = PETER_SKEY.trim_end().as_bytes();
        for i in 0..=skey.len() {
            for j in i + 1..=skey.len() {
                if i == 0 && j == skey.len() {
                    continue;
                }
                let s = std::str::from_utf8(&skey[i..j]).unwrap();
                let err = NoteSigner::from_signer_key_string(s).unwrap_err();
                assert!(!err.to_string().contains("AYEKFALV"), "{err}");
            }
        }
        let mut b = skey.to_vec();
        for i in 0..b.len() {
            b[i] += 1;
            let s = std::str::from_utf8(&b).unwrap();
            assert!(NoteSigner::from_signer_key_string(s).is_err(), "{s}");
            b[i] -= 1;
        }
    }

    #[test]
    fn go_vector_sign_is_byte_exact() {
        // Ed25519 is deterministic, so signing the Go vector text with the Go
        // vector key must reproduce the published note exactly.
        let signer = NoteSigner::from_signer_key_string(PETER_SKEY.trim_end()).unwrap();
        let note = Note::sign(PETER_TEXT, &[&signer]).unwrap();
        assert_eq!(note.to_bytes(), PETER_NOTE.as_bytes());
    }

    #[test]
    fn go_vector_open_one_known_one_unknown() {
        let note = Note::parse(PETER_ENOCH_NOTE.as_bytes()).unwrap();
        assert_eq!(note.text, PETER_TEXT);
        assert_eq!(note.signatures.len(), 2);
        assert_eq!(note.to_bytes(), PETER_ENOCH_NOTE.as_bytes());

        let verified = note.verify(&[peter_verifier()]).unwrap();
        assert_eq!(verified, vec![&note.signatures[0]]);
        assert_eq!(verified[0].name, "PeterNeumann");

        let verified = note.verify(&[peter_verifier(), enoch_verifier()]).unwrap();
        assert_eq!(verified.len(), 2);
        assert_eq!(verified[1].key_hash, KeyHash([0xaf, 0x0c, 0xfe, 0x78]));

        assert_eq!(note.verify(&[]), Err(NoteError::NoKnownSignature));
    }

    #[test]
    fn go_vector_invalid_signature_is_rejected() {
        // Go's TestOpen "Invalid signature": "ABCD" spliced into the base64.
        let sig = &signature_lines(PETER_NOTE)[0];
        let bad = format!("{PETER_TEXT}\n{}ABCD{}", &sig[..60], &sig[60..]);
        let note = Note::parse(bad.as_bytes()).unwrap();
        assert_eq!(
            note.verify(&[peter_verifier()]),
            Err(NoteError::BadSignature {
                name: "PeterNeumann".into(),
                key_hash: KeyHash([0xc7, 0x4f, 0x20, 0xa3]),
            })
        );
    }

    #[test]
    fn go_vector_duplicated_signatures() {
        // Go's TestOpen "Duplicated verified and unverified signatures".
        let lines = signature_lines(PETER_ENOCH_NOTE);
        let (peter, enoch) = (&lines[0], &lines[1]);
        let msg = format!(
            "{PETER_TEXT}\n{peter}{peter}{enoch}{enoch}{}ABCD{}",
            &enoch[..60],
            &enoch[60..]
        );
        let note = Note::parse(msg.as_bytes()).unwrap();
        let verified = note.verify(&[peter_verifier()]).unwrap();
        assert_eq!(verified.len(), 1);
        assert_eq!(verified[0].name, "PeterNeumann");
    }

    #[test]
    fn go_vector_malformed_messages() {
        // Go's TestOpen "Invalid encoded message syntax".
        let sig = &signature_lines(PETER_NOTE)[0];
        let cases = [
            PETER_TEXT.to_owned(),
            format!("{PETER_TEXT}\n"),
            format!("{PETER_TEXT}\n{}", &sig[..sig.len() - 1]),
            format!("\x01{PETER_TEXT}\n{sig}"),
            format!(
                "{PETER_TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
            ),
            format!("{PETER_TEXT}\n{sig}Unexpected line.\n"),
        ];
        for msg in &cases {
            assert!(
                matches!(
                    Note::parse(msg.as_bytes()),
                    Err(NoteError::MalformedNote { .. } | NoteError::MalformedSignatureLine { .. })
                ),
                "{msg:?}"
            );
        }
        let mut invalid_utf8 = vec![0xff];
        invalid_utf8.extend_from_slice(PETER_NOTE.as_bytes());
        assert_eq!(
            Note::parse(&invalid_utf8),
            Err(NoteError::MalformedNote {
                reason: "not valid UTF-8"
            })
        );
    }

    #[test]
    fn go_vector_too_many_signatures() {
        let sig = &signature_lines(PETER_NOTE)[0];
        let msg = format!("{PETER_TEXT}\n{}", sig.repeat(101));
        assert_eq!(
            Note::parse(msg.as_bytes()),
            Err(NoteError::TooManySignatures {
                count: 101,
                max: MAX_SIGNATURES
            })
        );
        let msg = format!("{PETER_TEXT}\n{}", sig.repeat(100));
        assert!(
            Note::parse(msg.as_bytes())
                .unwrap()
                .verify(&[peter_verifier()])
                .is_ok()
        );
    }

    #[test]
    fn c2sp_example_text_ends_at_last_blank_line() {
        let note = Note::parse(C2SP_EXAMPLE_NOTE.as_bytes()).unwrap();
        assert_eq!(
            note.text,
            "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
        );
        assert_eq!(note.signatures.len(), 1);
        assert_eq!(note.signatures[0].name, "quasimodo.example/salvatore");
        assert_eq!(note.signatures[0].signature.len(), 64);
        assert_eq!(note.to_bytes(), C2SP_EXAMPLE_NOTE.as_bytes());
        // The spec publishes no key for this example, so it cannot be verified.
        assert_eq!(
            note.verify(&[peter_verifier()]),
            Err(NoteError::NoKnownSignature)
        );
    }

    #[test]
    fn transparency_dev_ed25519_vkey_parses() {
        let v = NoteVerifier::from_verifier_key_string(TD_TEST_VKEY.trim_end()).unwrap();
        assert_eq!(v.name(), "TEST");
        assert_eq!(v.key_hash().to_string(), "7997405c");
        assert_eq!(v.to_verifier_key_string(), TD_TEST_VKEY.trim_end());
    }

    #[test]
    fn strictness_each_malformed_form_has_its_error() {
        let sig = &signature_lines(PETER_NOTE)[0];
        let parse = |s: String| Note::parse(s.as_bytes());
        // Missing blank line between text and signatures.
        assert_eq!(
            parse(format!("{PETER_TEXT}{sig}")),
            Err(NoteError::MalformedNote {
                reason: "no blank line between text and signatures"
            })
        );
        // Missing final newline.
        assert_eq!(
            parse(format!("{PETER_TEXT}\n{}", sig.trim_end())),
            Err(NoteError::MalformedNote {
                reason: "last signature line does not end with a newline"
            })
        );
        // Blank line but no signatures.
        assert_eq!(
            parse(format!("{PETER_TEXT}\n")),
            Err(NoteError::MalformedNote {
                reason: "no signature lines"
            })
        );
        // CRLF line endings (a control character).
        assert!(matches!(
            parse(PETER_NOTE.replace('\n', "\r\n")),
            Err(NoteError::MalformedNote { .. })
        ));
        // Bad base64 (not base64 at all, unpadded, non-canonical trailing bits).
        let line_err = |s: String, reason: &'static str| {
            assert_eq!(
                parse(s),
                Err(NoteError::MalformedSignatureLine { line: 1, reason })
            )
        };
        line_err(
            format!("{PETER_TEXT}\n— PeterNeumann x08go/ZJkuBS9UG!\n"),
            "signature is not canonical standard base64",
        );
        line_err(
            format!("{PETER_TEXT}\n{}", sig.replace("AM=\n", "AM\n")),
            "signature is not canonical standard base64",
        );
        line_err(
            format!("{PETER_TEXT}\n{}", sig.replace("AM=\n", "AN=\n")),
            "signature is not canonical standard base64",
        );
        // Extra whitespace in a signature line.
        line_err(
            format!(
                "{PETER_TEXT}\n{}",
                sig.replace("PeterNeumann ", "PeterNeumann  ")
            ),
            "signature is not canonical standard base64",
        );
        line_err(
            format!("{PETER_TEXT}\n{}", sig.replace("— ", "—  ")),
            "invalid key name",
        );
        line_err(
            format!("{PETER_TEXT}\n{}", sig.replace("=\n", "= \n")),
            "signature is not canonical standard base64",
        );
        line_err(
            format!("{PETER_TEXT}\n {sig}"),
            "does not start with an em dash and a space",
        );
        // Hyphen instead of em dash.
        line_err(
            format!("{PETER_TEXT}\n{}", sig.replacen('—', "-", 1)),
            "does not start with an em dash and a space",
        );
        // Too short to hold a key ID and a signature.
        line_err(
            format!("{PETER_TEXT}\n— PeterNeumann x08gow==\n"),
            "signature is shorter than a key ID and one byte",
        );
        // Note over the size limit.
        assert!(matches!(
            parse(format!("{}\n{sig}", "a\n".repeat(MAX_NOTE_SIZE / 2))),
            Err(NoteError::NoteTooLarge { .. })
        ));
    }

    #[test]
    fn wrong_key_hash_is_an_unknown_key() {
        // The spec: a signature sharing the name but not the key ID is ignored.
        let mut note = Note::parse(PETER_NOTE.as_bytes()).unwrap();
        note.signatures[0].key_hash.0[3] ^= 1;
        assert_eq!(
            note.verify(&[peter_verifier()]),
            Err(NoteError::NoKnownSignature)
        );
        let mut note = Note::parse(PETER_NOTE.as_bytes()).unwrap();
        note.signatures[0].name = "PeterNeuman".into();
        assert_eq!(
            note.verify(&[peter_verifier()]),
            Err(NoteError::NoKnownSignature)
        );
    }

    #[test]
    fn signature_over_modified_text_fails() {
        let mut note = Note::parse(PETER_NOTE.as_bytes()).unwrap();
        note.text = note.text.replace("problem is", "problem was");
        assert!(matches!(
            note.verify(&[peter_verifier()]),
            Err(NoteError::BadSignature { .. })
        ));
        let reparsed = Note::parse(&note.to_bytes()).unwrap();
        assert!(matches!(
            reparsed.verify(&[peter_verifier()]),
            Err(NoteError::BadSignature { .. })
        ));
    }

    #[test]
    fn ambiguous_verifiers_are_an_error() {
        let peter = peter_verifier();
        let other = VerifyingKey::from_bytes(enoch_verifier().verifying_key().as_bytes()).unwrap();
        let impostor = NoteVerifier {
            name: peter.name.clone(),
            key_hash: peter.key_hash,
            key: other,
        };
        let note = Note::parse(PETER_NOTE.as_bytes()).unwrap();
        assert!(matches!(
            note.verify(&[peter.clone(), impostor]),
            Err(NoteError::AmbiguousKey { .. })
        ));
        // The same verifier twice is harmless.
        assert_eq!(note.verify(&[peter.clone(), peter]).unwrap().len(), 1);
    }

    #[test]
    fn key_names_are_validated() {
        for bad in [
            "",
            "a+b",
            "a b",
            "a\tb",
            "a\u{a0}b",
            "a\u{2003}b",
            "a\u{1}b",
            "a\nb",
        ] {
            assert!(
                matches!(
                    NoteSigner::generate(bad),
                    Err(NoteError::InvalidKeyName { .. })
                ),
                "{bad:?}"
            );
        }
        for good in ["example.com/log", "PeterNeumann", "oid/1.3.6.1.4.1", "é—ü"] {
            assert!(NoteSigner::generate(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn sign_rejects_bad_input() {
        let s = NoteSigner::generate("example.com/log").unwrap();
        assert!(matches!(
            Note::sign("abc", &[&s]),
            Err(NoteError::MalformedNote { .. })
        ));
        assert!(matches!(
            Note::sign("a\rb\n", &[&s]),
            Err(NoteError::MalformedNote { .. })
        ));
        assert!(matches!(
            Note::sign("abc\n", &[]),
            Err(NoteError::MalformedNote { .. })
        ));
        assert!(matches!(
            Note::sign(&"a".repeat(MAX_NOTE_SIZE).replace("aa", "a\n"), &[&s]),
            Err(NoteError::NoteTooLarge { .. })
        ));
    }

    #[test]
    fn at_least_sixteen_signatures_are_accepted() {
        // C2SP signed-note §Format: verifiers MUST accept at least up to 16 signatures.
        let signers: Vec<NoteSigner> = (0..20)
            .map(|i| NoteSigner::generate(&format!("example.com/w{i}")).unwrap())
            .collect();
        let refs: Vec<&NoteSigner> = signers.iter().collect();
        let note = Note::sign("hello\n", &refs).unwrap();
        let parsed = Note::parse(&note.to_bytes()).unwrap();
        let verifiers: Vec<NoteVerifier> = signers.iter().map(NoteSigner::verifier).collect();
        assert_eq!(parsed.verify(&verifiers).unwrap().len(), 20);
    }

    #[test]
    fn raw_signing_round_trips() {
        let s = NoteSigner::generate("example.com/log").unwrap();
        let sig = s.sign_bytes(b"msg");
        assert!(s.verifier().verify_bytes(b"msg", &sig));
        assert!(!s.verifier().verify_bytes(b"msh", &sig));
        assert!(!s.verifier().verify_bytes(b"msg", &sig[..63]));
    }

    fn seed_signer(seed: [u8; 32], name: &str) -> NoteSigner {
        NoteSigner::new(name, SigningKey::from_bytes(&seed)).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn sign_parse_verify_round_trip(
            body in "[a-zA-Z0-9 .,:/+=é—\n]{0,200}",
            seeds in proptest::collection::vec(any::<[u8; 32]>(), 1..4),
        ) {
            let text = format!("{body}\n");
            let signers: Vec<NoteSigner> = seeds
                .iter()
                .enumerate()
                .map(|(i, seed)| seed_signer(*seed, &format!("example.com/k{i}")))
                .collect();
            let refs: Vec<&NoteSigner> = signers.iter().collect();
            let note = Note::sign(&text, &refs).unwrap();
            let bytes = note.to_bytes();
            let parsed = Note::parse(&bytes).unwrap();
            prop_assert_eq!(&parsed, &note);
            prop_assert_eq!(parsed.to_bytes(), bytes);
            let verifiers: Vec<NoteVerifier> = signers.iter().map(NoteSigner::verifier).collect();
            prop_assert_eq!(parsed.verify(&verifiers).unwrap().len(), signers.len());
        }

        #[test]
        fn flipping_any_byte_breaks_parse_or_verify(
            body in "[a-zA-Z0-9 .,:/+=é—\n]{0,100}",
            seed in any::<[u8; 32]>(),
            position in any::<proptest::sample::Index>(),
            mask in 1u8..=255,
        ) {
            let signer = seed_signer(seed, "example.com/log");
            let mut bytes = Note::sign(&format!("{body}\n"), &[&signer]).unwrap().to_bytes();
            let i = position.index(bytes.len());
            bytes[i] ^= mask;
            if let Ok(note) = Note::parse(&bytes) {
                prop_assert!(note.verify(&[signer.verifier()]).is_err());
            }
        }
    }
}
