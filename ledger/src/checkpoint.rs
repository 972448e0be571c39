//! Transparency log checkpoints as specified by C2SP tlog-checkpoint
//! (<https://c2sp.org/tlog-checkpoint>): a signed note whose text is the log
//! origin, the tree size, the base64 root hash and optional extension lines.
//!
//! What this module deliberately does not do:
//! - It does not check that the root hash is consistent with anything (no
//!   Merkle proofs here, not even the empty-tree hash for size 0) and keeps no
//!   state between checkpoints: consistency is the caller's job.
//! - It does not require the log's key name to equal the origin: the spec
//!   says it SHOULD match, and deployed logs differ (sum.golang.org signs
//!   origin `go.sum database tree`). Use [`Checkpoint::verify_note_for_origin`]
//!   to pin the origin the caller expects.
//! - It does not constrain the origin beyond "non-empty": the spec says
//!   clients MUST NOT assume it is a schema-less URL.
//! - It does not interpret extension lines, which are opaque.
//! - It signs and verifies with Ed25519 note keys only (see [`crate::note`]);
//!   ML-DSA-44 log signatures are not supported.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::note::{Note, NoteError, NoteSigner, NoteVerifier, contains_control_character};

/// The note text of a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log identity; non-empty.
    pub origin: String,
    /// The number of leaves in the tree.
    pub size: u64,
    /// The RFC 6962 Merkle tree root hash at `size`.
    pub root: [u8; 32],
    /// Opaque, non-empty extension lines (without newlines).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text: one newline-terminated line each for origin, size,
    /// base64 root hash and each extension.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        );
        for extension in &self.extensions {
            text.push_str(extension);
            text.push('\n');
        }
        text
    }

    /// Parses a checkpoint note text (without signature lines) strictly.
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        // C2SP tlog-checkpoint §Note text: at least three non-empty lines separated by newlines;
        // C2SP signed-note §Format: the note text ends in a newline.
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        // C2SP signed-note §Format: no ASCII control characters other than newline.
        if contains_control_character(body) {
            return Err(CheckpointError::ControlCharacter);
        }
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointError::TooFewLines { count: lines.len() });
        };
        // C2SP tlog-checkpoint §Note text 1: the origin MUST be non-empty.
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let size = parse_size(size)?;
        let root = parse_root(root)?;
        // C2SP tlog-checkpoint §Note text 4: extension lines, if any, MUST be non-empty.
        if let Some(index) = extensions.iter().position(|line| line.is_empty()) {
            return Err(CheckpointError::EmptyExtension { index });
        }
        Ok(Checkpoint {
            origin: (*origin).to_owned(),
            size,
            root,
            extensions: extensions.iter().map(|line| (*line).to_owned()).collect(),
        })
    }

    /// Signs the checkpoint text with the log key. Fails with
    /// [`NoteError::MalformedNote`] if the fields do not form a valid
    /// checkpoint (empty origin, newline or control character in a line,
    /// empty extension line).
    pub fn sign(&self, signer: &NoteSigner) -> Result<Note, NoteError> {
        let text = self.to_text();
        if Checkpoint::parse(&text).as_ref() != Ok(self) {
            return Err(NoteError::MalformedNote {
                reason: "checkpoint fields do not form a valid checkpoint text",
            });
        }
        Note::sign(&text, &[signer])
    }

    /// Parses a signed checkpoint and requires a valid signature by the log
    /// key `verifier`. Other signatures (witness cosignatures, other log keys)
    /// are ignored unless they claim to be by `verifier`'s key and fail.
    ///
    /// The origin is not compared with the key name (the spec only says it
    /// SHOULD match); callers must check [`Checkpoint::origin`], or use
    /// [`Checkpoint::verify_note_for_origin`].
    pub fn verify_note(
        note_bytes: &[u8],
        verifier: &NoteVerifier,
    ) -> Result<(Checkpoint, Note), CheckpointError> {
        let note = Note::parse(note_bytes)?;
        note.verify(std::slice::from_ref(verifier))?;
        let checkpoint = Checkpoint::parse(&note.text)?;
        Ok((checkpoint, note))
    }

    /// [`Checkpoint::verify_note`], then requires the origin to be `origin`.
    pub fn verify_note_for_origin(
        note_bytes: &[u8],
        origin: &str,
        verifier: &NoteVerifier,
    ) -> Result<(Checkpoint, Note), CheckpointError> {
        let (checkpoint, note) = Checkpoint::verify_note(note_bytes, verifier)?;
        if checkpoint.origin != origin {
            return Err(CheckpointError::OriginMismatch {
                expected: origin.to_owned(),
                found: checkpoint.origin,
            });
        }
        Ok((checkpoint, note))
    }
}

/// Errors from parsing and verifying checkpoints.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckpointError {
    #[error("checkpoint text does not end with a newline")]
    MissingFinalNewline,
    #[error("checkpoint text contains an ASCII control character other than newline")]
    ControlCharacter,
    #[error("checkpoint text has {count} lines; origin, size and root hash are required")]
    TooFewLines { count: usize },
    #[error("checkpoint origin line is empty")]
    EmptyOrigin,
    #[error("invalid checkpoint tree size: {reason}")]
    InvalidSize { reason: &'static str },
    #[error("invalid checkpoint root hash: {reason}")]
    InvalidRootHash { reason: &'static str },
    #[error("checkpoint extension line {index} is empty")]
    EmptyExtension { index: usize },
    #[error("checkpoint origin {found:?} is not the expected {expected:?}")]
    OriginMismatch { expected: String, found: String },
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
}

fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    // C2SP tlog-checkpoint §Note text 2: ASCII decimal, no leading zeroes unless the tree is
    // empty, in which case the tree size is `0`.
    let invalid = |reason| CheckpointError::InvalidSize { reason };
    if line.is_empty() {
        return Err(invalid("empty"));
    }
    if !line.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("not only ASCII decimal digits"));
    }
    if line.len() > 1 && line.starts_with('0') {
        return Err(invalid("leading zero"));
    }
    line.parse::<u64>()
        .map_err(|_| invalid("does not fit in 64 bits"))
}

fn parse_root(line: &str) -> Result<[u8; 32], CheckpointError> {
    // C2SP tlog-checkpoint §Note text 3 and §Conventions: standard base64 (RFC 4648 §4) of the
    // RFC 6962 root hash.
    let raw = BASE64
        .decode(line)
        .map_err(|_| CheckpointError::InvalidRootHash {
            reason: "not canonical standard base64",
        })?;
    <[u8; 32]>::try_from(raw.as_slice()).map_err(|_| CheckpointError::InvalidRootHash {
        reason: "not 32 bytes",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::KeyHash;
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    // The example in the C2SP tlog-checkpoint spec (c2sp.org/tlog-checkpoint);
    // no key is published for it, so only its syntax is checked.
    const C2SP_CHECKPOINT: &str = include_str!("../testdata/note/c2sp_cosignature_example.note");
    // A sum.golang.org checkpoint and the sumdb key, as published in
    // sigsum-go pkg/checkpoint/checkpoint_test.go (TestGoSumDBCheckpoint:
    // "Retrieved from https://sum.golang.org/latest, 2024-09-23"; key from
    // cmd/go/internal/modfetch/key.go).
    const SUMDB_NOTE: &str = include_str!("../testdata/note/sumdb_checkpoint.note");
    const SUMDB_VKEY: &str = include_str!("../testdata/note/sumdb.vkey");
    // validCheckpointASCII from sigsum-go pkg/checkpoint/checkpoint_test.go,
    // signed by the Ed25519 seed {17, 0, ..., 0} (crypto.PrivateKey{17}).
    const SIGSUM_NOTE: &str = include_str!("../testdata/note/sigsum_checkpoint.note");
    // The Go sumdb/note test key (golang.org/x/mod/sumdb/note note_test.go).
    const PETER_SKEY: &str = include_str!("../testdata/note/peterneumann.skey");

    const SIGSUM_ORIGIN: &str =
        "sigsum.org/v1/tree/e796172b92befd62d9dc67e41c2f5bc9d3100a3023b20b1ca40288dd1c679e69";

    fn sigsum_seed17_signer() -> NoteSigner {
        let mut seed = [0u8; 32];
        seed[0] = 17;
        NoteSigner::new(SIGSUM_ORIGIN, SigningKey::from_bytes(&seed)).unwrap()
    }

    fn sumdb_verifier() -> NoteVerifier {
        NoteVerifier::from_verifier_key_string(SUMDB_VKEY.trim_end()).unwrap()
    }

    fn example() -> Checkpoint {
        Checkpoint {
            origin: "example.com/log".into(),
            size: 10,
            root: [7; 32],
            extensions: vec![],
        }
    }

    #[test]
    fn c2sp_example_parses() {
        let note = Note::parse(C2SP_CHECKPOINT.as_bytes()).unwrap();
        let checkpoint = Checkpoint::parse(&note.text).unwrap();
        assert_eq!(checkpoint.origin, "example.com/behind-the-sofa");
        assert_eq!(checkpoint.size, 20852163);
        assert_eq!(
            BASE64.encode(checkpoint.root),
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
        );
        assert!(checkpoint.extensions.is_empty());
        assert_eq!(checkpoint.to_text(), note.text);
    }

    #[test]
    fn sumdb_checkpoint_verifies_with_origin_different_from_key_name() {
        let verifier = sumdb_verifier();
        assert_eq!(verifier.name(), "sum.golang.org");
        assert_eq!(verifier.key_hash(), KeyHash([0x03, 0x3d, 0xe0, 0xae]));
        let (checkpoint, note) = Checkpoint::verify_note(SUMDB_NOTE.as_bytes(), &verifier).unwrap();
        assert_eq!(checkpoint.origin, "go.sum database tree");
        assert_eq!(checkpoint.size, 30055305);
        assert_eq!(
            BASE64.encode(checkpoint.root),
            "mXfgRcJ0bG0j3CPdKwgGWtUzBUbX67saZGRmFuJGGsM="
        );
        assert_eq!(note.to_bytes(), SUMDB_NOTE.as_bytes());

        assert!(
            Checkpoint::verify_note_for_origin(
                SUMDB_NOTE.as_bytes(),
                "go.sum database tree",
                &verifier
            )
            .is_ok()
        );
        assert_eq!(
            Checkpoint::verify_note_for_origin(SUMDB_NOTE.as_bytes(), "sum.golang.org", &verifier)
                .unwrap_err(),
            CheckpointError::OriginMismatch {
                expected: "sum.golang.org".into(),
                found: "go.sum database tree".into()
            }
        );
    }

    #[test]
    fn sumdb_checkpoint_with_modified_size_fails() {
        let modified = SUMDB_NOTE.replace("30055305", "30055306");
        assert!(matches!(
            Checkpoint::verify_note(modified.as_bytes(), &sumdb_verifier()),
            Err(CheckpointError::Note(NoteError::BadSignature { .. }))
        ));
    }

    #[test]
    fn sigsum_checkpoint_sign_is_byte_exact_and_verifies() {
        let signer = sigsum_seed17_signer();
        let checkpoint =
            Checkpoint::parse(&Note::parse(SIGSUM_NOTE.as_bytes()).unwrap().text).unwrap();
        assert_eq!(checkpoint.size, 10);
        assert_eq!(&checkpoint.root[..3], &[28, 14, 71]);
        assert_eq!(
            checkpoint.sign(&signer).unwrap().to_bytes(),
            SIGSUM_NOTE.as_bytes()
        );
        let (verified, _) = Checkpoint::verify_note_for_origin(
            SIGSUM_NOTE.as_bytes(),
            SIGSUM_ORIGIN,
            &signer.verifier(),
        )
        .unwrap();
        assert_eq!(verified, checkpoint);
    }

    #[test]
    fn verify_requires_the_log_key() {
        let log = NoteSigner::from_signer_key_string(PETER_SKEY.trim_end()).unwrap();
        let other = NoteSigner::generate("example.com/other").unwrap();
        let note = example().sign(&other).unwrap();
        assert_eq!(
            Checkpoint::verify_note(&note.to_bytes(), &log.verifier()),
            Err(CheckpointError::Note(NoteError::NoKnownSignature))
        );
        // Extra unknown signatures (e.g. cosignatures) are ignored.
        let mut note = example().sign(&log).unwrap();
        note.signatures
            .extend(example().sign(&other).unwrap().signatures);
        let (checkpoint, _) = Checkpoint::verify_note(&note.to_bytes(), &log.verifier()).unwrap();
        assert_eq!(checkpoint, example());
    }

    #[test]
    fn strictness_each_malformed_form_has_its_error() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let parse = |s: &str| Checkpoint::parse(s);
        assert!(parse(&format!("o\n1\n{root}\n")).is_ok());
        assert_eq!(
            parse(&format!("o\n1\n{root}")),
            Err(CheckpointError::MissingFinalNewline)
        );
        assert_eq!(parse(""), Err(CheckpointError::MissingFinalNewline));
        assert_eq!(
            parse("o\n1\n"),
            Err(CheckpointError::TooFewLines { count: 2 })
        );
        assert_eq!(
            parse(&format!("\n1\n{root}\n")),
            Err(CheckpointError::EmptyOrigin)
        );
        let size_err = |reason| Err(CheckpointError::InvalidSize { reason });
        assert_eq!(parse(&format!("o\n01\n{root}\n")), size_err("leading zero"));
        assert_eq!(parse(&format!("o\n00\n{root}\n")), size_err("leading zero"));
        assert_eq!(parse(&format!("o\n\n{root}\n")), size_err("empty"));
        assert_eq!(
            parse(&format!("o\n+1\n{root}\n")),
            size_err("not only ASCII decimal digits")
        );
        assert_eq!(
            parse(&format!("o\n-1\n{root}\n")),
            size_err("not only ASCII decimal digits")
        );
        assert_eq!(
            parse(&format!("o\n 1\n{root}\n")),
            size_err("not only ASCII decimal digits")
        );
        assert_eq!(
            parse(&format!("o\n1 \n{root}\n")),
            size_err("not only ASCII decimal digits")
        );
        assert_eq!(
            parse(&format!("o\n1e3\n{root}\n")),
            size_err("not only ASCII decimal digits")
        );
        assert_eq!(
            parse(&format!("o\n18446744073709551616\n{root}\n")),
            size_err("does not fit in 64 bits")
        );
        assert_eq!(
            parse(&format!("o\n18446744073709551615\n{root}\n"))
                .unwrap()
                .size,
            u64::MAX
        );
        assert_eq!(parse(&format!("o\n0\n{root}\n")).unwrap().size, 0);
        let root_err = |reason| Err(CheckpointError::InvalidRootHash { reason });
        assert_eq!(
            parse(&format!("o\n1\n{root} \n")),
            root_err("not canonical standard base64")
        );
        assert_eq!(
            parse(&format!("o\n1\n{}\n", root.trim_end_matches('='))),
            root_err("not canonical standard base64")
        );
        assert_eq!(
            parse(&format!("o\n1\n{}\n", root.replace("2I=", "2J="))),
            root_err("not canonical standard base64")
        );
        assert_eq!(parse("o\n1\nAAAA\n"), root_err("not 32 bytes"));
        assert_eq!(
            parse(&format!("o\n1\n{root}\next\n\n")),
            Err(CheckpointError::EmptyExtension { index: 1 })
        );
        assert_eq!(
            parse(&format!("o\r\n1\n{root}\n")),
            Err(CheckpointError::ControlCharacter)
        );
        let with_ext = parse(&format!("o\n1\n{root}\nfirst ext\nsecond\n")).unwrap();
        assert_eq!(with_ext.extensions, vec!["first ext", "second"]);
        // Origins are not constrained beyond non-empty (the spec: clients MUST NOT assume a URL).
        assert_eq!(
            parse(&format!("go.sum database tree\n1\n{root}\n"))
                .unwrap()
                .origin,
            "go.sum database tree"
        );
    }

    #[test]
    fn sign_rejects_invalid_fields() {
        let signer = NoteSigner::generate("example.com/log").unwrap();
        let bad = [
            Checkpoint {
                origin: String::new(),
                ..example()
            },
            Checkpoint {
                origin: "a\nb".into(),
                ..example()
            },
            Checkpoint {
                extensions: vec![String::new()],
                ..example()
            },
            Checkpoint {
                extensions: vec!["a\nb".into()],
                ..example()
            },
            Checkpoint {
                extensions: vec!["a\tb".into()],
                ..example()
            },
        ];
        for checkpoint in bad {
            assert!(
                matches!(
                    checkpoint.sign(&signer),
                    Err(NoteError::MalformedNote { .. })
                ),
                "{checkpoint:?}"
            );
        }
    }

    fn arb_line() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 ./:+=é—-]{1,40}"
    }

    fn arb_checkpoint() -> impl Strategy<Value = Checkpoint> {
        (
            arb_line(),
            any::<u64>(),
            any::<[u8; 32]>(),
            proptest::collection::vec(arb_line(), 0..3),
        )
            .prop_map(|(origin, size, root, extensions)| Checkpoint {
                origin,
                size,
                root,
                extensions,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn text_round_trips(checkpoint in arb_checkpoint()) {
            prop_assert_eq!(Checkpoint::parse(&checkpoint.to_text()), Ok(checkpoint));
        }

        #[test]
        fn sign_verify_round_trips(checkpoint in arb_checkpoint(), seed in any::<[u8; 32]>()) {
            let signer = NoteSigner::new("example.com/log", SigningKey::from_bytes(&seed)).unwrap();
            let bytes = checkpoint.sign(&signer).unwrap().to_bytes();
            let (verified, _) = Checkpoint::verify_note(&bytes, &signer.verifier()).unwrap();
            prop_assert_eq!(verified, checkpoint);
        }
    }
}
