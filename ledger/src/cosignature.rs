//! Ed25519 witness cosignatures (`cosignature/v1`, signature type `0x04`) as
//! specified by C2SP tlog-cosignature (<https://c2sp.org/tlog-cosignature>).
//!
//! A cosignature is a note signature line on a checkpoint whose key ID is
//! computed with type byte `0x04` and whose signature bytes are a
//! `timestamped_signature`: an 8-byte big-endian POSIX timestamp followed by
//! a 64-byte Ed25519 signature over
//! `"cosignature/v1\ntime <timestamp>\n" || checkpoint note text`.
//!
//! What this module deliberately does not do:
//! - ML-DSA-44 cosignatures (type `0x06`, `subtree/v1` messages) and subtree
//!   signing are not implemented.
//! - It does not check consistency: a cosigner must verify the checkpoint is
//!   consistent with everything it saw before calling [`cosign`]; that is
//!   what the cosignature asserts.
//! - It applies no freshness policy: the spec lets verifiers reject
//!   timestamps in the future, and callers decide with the returned time.
//! - It keeps no cosigner quorum policy; callers count verified cosigners.
//! - Cosigner verifier keys must carry type byte `0x04`; a plain Ed25519
//!   (`0x01`) vkey is not silently converted into a cosignature key.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::note::{
    KeyHash, NoteError, NoteSignature, decode_verifier_key, encode_verifier_key, validate_key_name,
    verify_ed25519,
};

/// Signature type identifier byte of Ed25519 `cosignature/v1` signatures.
// C2SP signed-note §Signature types: `0x04` — Timestamped Ed25519 witness cosignatures.
pub const SIGNATURE_TYPE_COSIGNATURE_V1: u8 = 0x04;

/// Largest timestamp a cosignature may carry, 2^63 - 1.
// C2SP tlog-cosignature §Format: `timestamp` MUST NOT exceed 2^63 - 1.
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// An Ed25519 cosigner (witness) key with its name.
#[derive(Clone)]
pub struct Cosigner {
    name: String,
    key_hash: KeyHash,
    key: SigningKey,
}

impl Cosigner {
    /// A cosigner named `name`, which must be a valid note key name.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, CosignatureError> {
        validate_key_name(name)?;
        Ok(Cosigner {
            name: name.to_owned(),
            key_hash: cosignature_key_hash(name, &key.verifying_key()),
            key,
        })
    }

    /// A cosigner named `name` with a fresh key from the thread-local CSPRNG.
    pub fn generate(name: &str) -> Result<Self, CosignatureError> {
        Cosigner::new(name, SigningKey::generate(&mut rand::rng()))
    }

    /// The cosigner name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID, computed with type byte `0x04`.
    pub fn key_hash(&self) -> KeyHash {
        self.key_hash
    }

    /// The matching verifier.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            key_hash: self.key_hash,
            key: self.key.verifying_key(),
        }
    }
}

impl fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cosigner")
            .field("name", &self.name)
            .field("key_hash", &self.key_hash)
            .finish_non_exhaustive()
    }
}

/// An Ed25519 cosigner public key with its name and key ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key_hash: KeyHash,
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// A verifier for cosigner `name`, which must be a valid note key name.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, CosignatureError> {
        validate_key_name(name)?;
        Ok(CosignatureVerifier {
            name: name.to_owned(),
            key_hash: cosignature_key_hash(name, &key),
            key,
        })
    }

    /// Parses the vkey `<name>+<hex key ID>+base64(0x04 || 32-byte key)`,
    /// checking the key ID.
    pub fn from_verifier_key_string(s: &str) -> Result<Self, CosignatureError> {
        // C2SP tlog-cosignature §Format: Ed25519 public keys MAY be encoded as vkeys with
        // signature type 0x04 and the 32-byte Ed25519 cosigner public key.
        let (name, key_hash, key) = decode_verifier_key(s, SIGNATURE_TYPE_COSIGNATURE_V1)?;
        Ok(CosignatureVerifier {
            name,
            key_hash,
            key,
        })
    }

    /// The vkey string, the inverse of
    /// [`CosignatureVerifier::from_verifier_key_string`].
    pub fn to_verifier_key_string(&self) -> String {
        encode_verifier_key(
            &self.name,
            self.key_hash,
            SIGNATURE_TYPE_COSIGNATURE_V1,
            &self.key,
        )
    }

    /// The cosigner name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID, computed with type byte `0x04`.
    pub fn key_hash(&self) -> KeyHash {
        self.key_hash
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Whether `sig` claims to be by this cosigner (same name and key ID).
    pub fn matches(&self, sig: &NoteSignature) -> bool {
        sig.name == self.name && sig.key_hash == self.key_hash
    }
}

/// Cosigns `checkpoint_text` (a checkpoint note text, without signature
/// lines) at `time_secs` (POSIX seconds), returning the note signature to
/// append to the checkpoint.
pub fn cosign(
    cosigner: &Cosigner,
    checkpoint_text: &str,
    time_secs: u64,
) -> Result<NoteSignature, CosignatureError> {
    if time_secs > MAX_TIMESTAMP {
        return Err(CosignatureError::TimestampOutOfRange {
            timestamp: time_secs,
        });
    }
    // C2SP tlog-cosignature §Format: a cosignature is a note signature applied to a checkpoint.
    Checkpoint::parse(checkpoint_text)?;
    let signature = cosigner
        .key
        .sign(&signed_message(time_secs, checkpoint_text));
    // C2SP tlog-cosignature §Format: timestamped_signature is u64 timestamp then the 64-byte
    // Ed25519 signature, serialized in sequence with the timestamp big-endian.
    let mut bytes = Vec::with_capacity(TIMESTAMPED_SIGNATURE_LEN);
    bytes.extend_from_slice(&time_secs.to_be_bytes());
    bytes.extend_from_slice(&signature.to_bytes());
    Ok(NoteSignature {
        name: cosigner.name.clone(),
        key_hash: cosigner.key_hash,
        signature: bytes,
    })
}

/// Verifies that `sig` is a cosignature by `verifier` on `checkpoint_text`
/// (the checkpoint note text, without signature lines) and returns its
/// timestamp in POSIX seconds.
pub fn verify_cosignature(
    verifier: &CosignatureVerifier,
    checkpoint_text: &str,
    sig: &NoteSignature,
) -> Result<u64, CosignatureError> {
    // C2SP tlog-cosignature §Format: clients ignore signature lines that don't match the
    // expected name and key ID.
    if !verifier.matches(sig) {
        return Err(CosignatureError::WrongKey {
            name: sig.name.clone(),
            key_hash: sig.key_hash,
        });
    }
    let timestamp = cosignature_timestamp(sig)?;
    Checkpoint::parse(checkpoint_text)?;
    let message = signed_message(timestamp, checkpoint_text);
    // `cosignature_timestamp` checked that the signature is exactly 8 + 64 bytes.
    if !verify_ed25519(&verifier.key, &message, &sig.signature[8..]) {
        return Err(CosignatureError::BadSignature {
            name: sig.name.clone(),
            key_hash: sig.key_hash,
        });
    }
    Ok(timestamp)
}

/// Reads the timestamp of an Ed25519 cosignature without verifying it, so
/// the value is not authenticated. Checks the length and the 2^63 - 1 bound.
pub fn cosignature_timestamp(sig: &NoteSignature) -> Result<u64, CosignatureError> {
    let Ok(bytes) = <[u8; TIMESTAMPED_SIGNATURE_LEN]>::try_from(sig.signature.as_slice()) else {
        return Err(CosignatureError::MalformedCosignature {
            reason: "not an 8-byte timestamp and a 64-byte Ed25519 signature",
        });
    };
    let mut time = [0u8; 8];
    time.copy_from_slice(&bytes[..8]);
    let timestamp = u64::from_be_bytes(time);
    // C2SP tlog-cosignature §Format: timestamp MUST NOT exceed 2^63 - 1.
    if timestamp > MAX_TIMESTAMP {
        return Err(CosignatureError::TimestampOutOfRange { timestamp });
    }
    Ok(timestamp)
}

/// Errors from cosigning and verifying cosignatures.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CosignatureError {
    #[error("cosigner key: {0}")]
    Key(#[from] NoteError),
    #[error("cosigned text is not a checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("cosignature timestamp {timestamp} exceeds 2^63 - 1")]
    TimestampOutOfRange { timestamp: u64 },
    #[error("signature by {name}+{key_hash} is not from this cosigner")]
    WrongKey { name: String, key_hash: KeyHash },
    #[error("malformed cosignature: {reason}")]
    MalformedCosignature { reason: &'static str },
    #[error("invalid cosignature by {name}+{key_hash}")]
    BadSignature { name: String, key_hash: KeyHash },
}

const TIMESTAMPED_SIGNATURE_LEN: usize = 8 + 64;

fn cosignature_key_hash(name: &str, key: &VerifyingKey) -> KeyHash {
    // C2SP tlog-cosignature §Format: the key ID for Ed25519 cosignatures MUST be
    // SHA-256(<name> || "\n" || 0x04 || 32-byte Ed25519 cosigner public key)[:4].
    KeyHash::compute(name, SIGNATURE_TYPE_COSIGNATURE_V1, key.as_bytes())
}

fn signed_message(timestamp: u64, checkpoint_text: &str) -> Vec<u8> {
    // C2SP tlog-cosignature §Ed25519 signed message: the header line `cosignature/v1`, the line
    // `time <timestamp>` (ASCII decimal, no leading zeroes), then the whole checkpoint note body.
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{Note, NoteSigner};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use proptest::prelude::*;

    // sigsum-go pkg/checkpoint/checkpoint_test.go: testCheckpoint's note body
    // and the cosignature lines of TestCheckpointVerifyCosignatureByKey. Line
    // 2 was produced by TestCheckpointCosignVerify with the Ed25519 seed
    // {17, 0, ..., 0} (crypto.PrivateKey{17}), name "example.org/witness" and
    // timestamp 1234; line 1 has another key ID, line 3 another name and line
    // 4 another signature size.
    const SIGSUM_BODY: &str = include_str!("../testdata/note/sigsum_cosigned_checkpoint.txt");
    const SIGSUM_LINES: &str = include_str!("../testdata/note/sigsum_cosignature_lines.txt");
    // The example in the C2SP tlog-cosignature spec: a checkpoint with a log
    // signature and a cosignature, and the signed message for time 1679315147.
    // No key is published for it, so it cannot be verified.
    const C2SP_NOTE: &str = include_str!("../testdata/note/c2sp_cosignature_example.note");
    const C2SP_MESSAGE: &str =
        include_str!("../testdata/note/c2sp_cosignature_signed_message_example.txt");
    // A native type 0x04 vkey from transparency-dev/formats
    // note/note_cosigv1_test.go (TestCoSigV1NewVerifier).
    const REMORA_VKEY: &str = include_str!("../testdata/note/remora_cosignature.vkey");
    // A type 0x01 vkey from the same test ("convert from algEd25519").
    const TD_ED25519_VKEY: &str =
        include_str!("../testdata/note/transparency_dev_test_ed25519.vkey");

    fn seed17_cosigner() -> Cosigner {
        let mut seed = [0u8; 32];
        seed[0] = 17;
        Cosigner::new("example.org/witness", SigningKey::from_bytes(&seed)).unwrap()
    }

    fn sigsum_signatures() -> Vec<NoteSignature> {
        // Wrap the lines in a note to reuse the strict signature-line parser.
        let note = Note::parse(format!("{SIGSUM_BODY}\n{SIGSUM_LINES}").as_bytes()).unwrap();
        assert_eq!(note.text, SIGSUM_BODY);
        note.signatures
    }

    #[test]
    fn sigsum_vector_cosign_is_byte_exact() {
        let cosigner = seed17_cosigner();
        assert_eq!(cosigner.key_hash(), KeyHash([0xca, 0xcf, 0x2e, 0x50]));
        let sig = cosign(&cosigner, SIGSUM_BODY, 1234).unwrap();
        let published = SIGSUM_LINES.lines().nth(1).unwrap();
        assert_eq!(sig.to_line(), format!("{published}\n"));
    }

    #[test]
    fn sigsum_vector_verifies_and_rejects_the_variants() {
        let verifier = seed17_cosigner().verifier();
        let sigs = sigsum_signatures();
        assert!(matches!(
            verify_cosignature(&verifier, SIGSUM_BODY, &sigs[0]),
            Err(CosignatureError::WrongKey { .. })
        ));
        assert_eq!(
            verify_cosignature(&verifier, SIGSUM_BODY, &sigs[1]),
            Ok(1234)
        );
        assert!(matches!(
            verify_cosignature(&verifier, SIGSUM_BODY, &sigs[2]),
            Err(CosignatureError::WrongKey { .. })
        ));
        assert!(matches!(
            verify_cosignature(&verifier, SIGSUM_BODY, &sigs[3]),
            Err(CosignatureError::MalformedCosignature { .. })
        ));
        // The test's own tamper: timestamp + 1.
        let mut tampered = sigs[1].clone();
        tampered.signature[7] += 1;
        assert!(matches!(
            verify_cosignature(&verifier, SIGSUM_BODY, &tampered),
            Err(CosignatureError::BadSignature { .. })
        ));
        // Signature over a modified checkpoint.
        let modified = SIGSUM_BODY.replace("\n10\n", "\n11\n");
        assert!(matches!(
            verify_cosignature(&verifier, &modified, &sigs[1]),
            Err(CosignatureError::BadSignature { .. })
        ));
    }

    #[test]
    fn cosignatures_are_ignored_by_note_verifiers_of_the_same_key() {
        // Domain separation: the same Ed25519 key as a 0x01 note key has another key ID.
        let cosigner = seed17_cosigner();
        let note_verifier = NoteSigner::new("example.org/witness", cosigner.key.clone())
            .unwrap()
            .verifier();
        assert_ne!(note_verifier.key_hash(), cosigner.key_hash());
        let note = Note {
            text: SIGSUM_BODY.into(),
            signatures: sigsum_signatures(),
        };
        assert_eq!(
            note.verify(&[note_verifier]),
            Err(NoteError::NoKnownSignature)
        );
    }

    #[test]
    fn c2sp_example_timestamp_and_message() {
        let note = Note::parse(C2SP_NOTE.as_bytes()).unwrap();
        let cosig = &note.signatures[1];
        assert_eq!(cosig.name, "witness.example.com/w1");
        let timestamp = cosignature_timestamp(cosig).unwrap();
        assert_eq!(timestamp, 1679315147);
        assert_eq!(
            signed_message(timestamp, &note.text),
            C2SP_MESSAGE.as_bytes()
        );
        // The log's own signature is 64 bytes, not a timestamped signature.
        assert!(matches!(
            cosignature_timestamp(&note.signatures[0]),
            Err(CosignatureError::MalformedCosignature { .. })
        ));
    }

    #[test]
    fn transparency_dev_vectors() {
        let remora = CosignatureVerifier::from_verifier_key_string(REMORA_VKEY.trim_end()).unwrap();
        assert_eq!(remora.name(), "remora.n621.de");
        assert_eq!(remora.key_hash().to_string(), "da77ade7");
        assert_eq!(remora.to_verifier_key_string(), REMORA_VKEY.trim_end());
        // A 0x01 key is not a cosignature key.
        assert_eq!(
            CosignatureVerifier::from_verifier_key_string(TD_ED25519_VKEY.trim_end()),
            Err(CosignatureError::Key(NoteError::UnsupportedAlgorithm {
                byte: 0x01
            }))
        );
        // TestCosignatureTimestamp: a cosignature (key ID 644846b9) and its time.
        let raw = BASE64
            .decode("ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==")
            .unwrap();
        let sig = NoteSignature {
            name: "unknown".into(),
            key_hash: KeyHash([raw[0], raw[1], raw[2], raw[3]]),
            signature: raw[4..].to_vec(),
        };
        assert_eq!(cosignature_timestamp(&sig), Ok(1727964367));
        // "wrong type of signature": a plain Ed25519 note signature.
        let raw = BASE64
            .decode("eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=")
            .unwrap();
        let sig = NoteSignature {
            name: "unknown".into(),
            key_hash: KeyHash([raw[0], raw[1], raw[2], raw[3]]),
            signature: raw[4..].to_vec(),
        };
        assert!(matches!(
            cosignature_timestamp(&sig),
            Err(CosignatureError::MalformedCosignature { .. })
        ));
    }

    #[test]
    fn verifier_key_round_trip_and_errors() {
        let cosigner = Cosigner::generate("witness.example/w1").unwrap();
        let vkey = cosigner.verifier().to_verifier_key_string();
        assert_eq!(
            CosignatureVerifier::from_verifier_key_string(&vkey).unwrap(),
            cosigner.verifier()
        );
        let mut wrong_hash = vkey.clone();
        let i = "witness.example/w1+".len();
        wrong_hash.replace_range(i..i + 1, if &vkey[i..i + 1] == "0" { "1" } else { "0" });
        assert!(matches!(
            CosignatureVerifier::from_verifier_key_string(&wrong_hash),
            Err(CosignatureError::Key(NoteError::KeyHashMismatch { .. }))
        ));
        assert!(matches!(
            Cosigner::generate("bad name"),
            Err(CosignatureError::Key(NoteError::InvalidKeyName { .. }))
        ));
        assert!(!format!("{cosigner:?}").contains("key: "));
    }

    #[test]
    fn timestamps_above_2_pow_63_are_rejected() {
        let cosigner = seed17_cosigner();
        assert_eq!(
            cosign(&cosigner, SIGSUM_BODY, 1 << 63),
            Err(CosignatureError::TimestampOutOfRange { timestamp: 1 << 63 })
        );
        let mut sig = cosign(&cosigner, SIGSUM_BODY, MAX_TIMESTAMP).unwrap();
        assert_eq!(
            verify_cosignature(&cosigner.verifier(), SIGSUM_BODY, &sig),
            Ok(MAX_TIMESTAMP)
        );
        sig.signature[0] = 0x80;
        assert!(matches!(
            verify_cosignature(&cosigner.verifier(), SIGSUM_BODY, &sig),
            Err(CosignatureError::TimestampOutOfRange { .. })
        ));
    }

    #[test]
    fn only_checkpoints_are_cosigned() {
        let cosigner = seed17_cosigner();
        assert!(matches!(
            cosign(&cosigner, "not a checkpoint\n", 1),
            Err(CosignatureError::Checkpoint(_))
        ));
        let sig = cosign(&cosigner, SIGSUM_BODY, 1).unwrap();
        assert!(matches!(
            verify_cosignature(&cosigner.verifier(), "example.org/log\n10\n", &sig),
            Err(CosignatureError::Checkpoint(_))
        ));
    }

    #[test]
    fn cosignature_covers_extension_lines() {
        let cosigner = seed17_cosigner();
        let text = format!("{SIGSUM_BODY}ext one\n");
        let sig = cosign(&cosigner, &text, 5).unwrap();
        assert_eq!(verify_cosignature(&cosigner.verifier(), &text, &sig), Ok(5));
        assert!(matches!(
            verify_cosignature(&cosigner.verifier(), &text.replace("one", "two"), &sig),
            Err(CosignatureError::BadSignature { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn cosign_round_trips_through_a_note(
            seed in any::<[u8; 32]>(),
            time in 0..=MAX_TIMESTAMP,
            size in any::<u64>(),
            root in any::<[u8; 32]>(),
        ) {
            let log = NoteSigner::new("example.com/log", SigningKey::from_bytes(&[3; 32])).unwrap();
            let cosigner = Cosigner::new("witness.example/w1", SigningKey::from_bytes(&seed)).unwrap();
            let checkpoint = Checkpoint {
                origin: "example.com/log".into(),
                size,
                root,
                extensions: vec![],
            };
            let mut note = checkpoint.sign(&log).unwrap();
            note.signatures.push(cosign(&cosigner, &note.text, time).unwrap());
            let bytes = note.to_bytes();
            let (parsed, note) = Checkpoint::verify_note(&bytes, &log.verifier()).unwrap();
            prop_assert_eq!(parsed, checkpoint);
            let verifier = cosigner.verifier();
            let cosig = note.signatures.iter().find(|s| verifier.matches(s)).unwrap();
            prop_assert_eq!(verify_cosignature(&verifier, &note.text, cosig), Ok(time));
        }
    }
}
