//! C2SP tlog-proof (<https://c2sp.org/tlog-proof>): the text form of an
//! offline-verifiable inclusion proof — a header line, the entry's index,
//! the RFC 6962 audit path in base64, a blank line, and the checkpoint
//! (with any witness cosignatures) verbatim.
//!
//! What this module deliberately does not do: verify anything. It neither
//! checks the checkpoint's signatures (see [`crate::checkpoint`] and
//! [`crate::cosignature`]) nor the audit path (see
//! [`crate::merkle::verify_inclusion`]); it only writes and strictly parses
//! the text. The optional `extra` data is kept as bytes and never
//! interpreted (the spec says it is not authenticated).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::ids::LogIndex;
use crate::merkle::Hash;

/// The first line of every proof.
// C2SP tlog-proof §Format: the first line MUST be `c2sp.org/tlog-proof@v1`.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Most hashes an audit path can have: one per level of a tree of at most
/// 2^64 leaves.
pub const MAX_PROOF_HASHES: usize = 64;

/// One C2SP tlog-proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated extra data (the `extra` line), if any.
    pub extra: Option<Vec<u8>>,
    /// The entry's zero-based index in the log.
    pub index: LogIndex,
    /// The RFC 6962 §2.1.1 audit path: the leaf's sibling first, up to the
    /// root's child.
    pub hashes: Vec<Hash>,
    /// The checkpoint signed note, verbatim, with its cosignatures.
    pub checkpoint: Vec<u8>,
}

/// Why a text is not a tlog-proof. `line` counts from 1.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogProofError {
    /// The first line is not `c2sp.org/tlog-proof@v1`.
    #[error("line 1 is not \"{TLOG_PROOF_HEADER}\"")]
    MissingHeader,
    /// The `extra` line's data is not standard padded base64.
    #[error("line {line}: the extra data is not standard base64")]
    MalformedExtra { line: usize },
    /// No `index N` line, or N is not a decimal without leading zeros.
    #[error("line {line}: expected \"index N\" with N a decimal without leading zeros")]
    MalformedIndex { line: usize },
    /// A proof line is not the base64 of a 32-byte SHA-256 hash.
    #[error("line {line}: not the base64 of a 32-byte hash")]
    MalformedHash { line: usize },
    /// More audit-path hashes than any tree can need.
    #[error("more than {MAX_PROOF_HASHES} proof hashes")]
    TooManyHashes,
    /// The text ends before the blank line and the checkpoint.
    #[error("no blank line followed by a checkpoint")]
    MissingCheckpoint,
}

impl TlogProof {
    /// The proof text. `checkpoint` must be a signed note (it ends in a
    /// newline), so the text does too.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(64 + 45 * self.hashes.len() + self.checkpoint.len());
        out.push_str(TLOG_PROOF_HEADER);
        out.push('\n');
        // C2SP tlog-proof §Format: an optional `extra <base64>` line.
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&BASE64.encode(extra));
            out.push('\n');
        }
        // C2SP tlog-proof §Format: `index <decimal>`, no leading zeroes.
        out.push_str(&format!("index {}\n", self.index.0));
        // C2SP tlog-proof §Format: one base64 SHA-256 hash per line, leaf's
        // sibling first (RFC 6962 §2.1.1).
        for hash in &self.hashes {
            out.push_str(&hash.to_base64());
            out.push('\n');
        }
        // C2SP tlog-proof §Format: an empty line, then the checkpoint verbatim.
        out.push('\n');
        out.push_str(&String::from_utf8_lossy(&self.checkpoint));
        out
    }

    /// Parses a proof strictly; signatures and hashes are not checked.
    pub fn parse(text: &str) -> Result<TlogProof, TlogProofError> {
        let mut rest = text;
        let mut line_no = 0usize;
        line_no += 1;
        if next_line(&mut rest) != Some(TLOG_PROOF_HEADER) {
            return Err(TlogProofError::MissingHeader);
        }
        line_no += 1;
        let mut line =
            next_line(&mut rest).ok_or(TlogProofError::MalformedIndex { line: line_no })?;
        let mut extra = None;
        if let Some(data) = line.strip_prefix("extra ") {
            extra = Some(
                BASE64
                    .decode(data)
                    .map_err(|_| TlogProofError::MalformedExtra { line: line_no })?,
            );
            line_no += 1;
            line = next_line(&mut rest).ok_or(TlogProofError::MalformedIndex { line: line_no })?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or(TlogProofError::MalformedIndex { line: line_no })?;
        let mut hashes = Vec::new();
        loop {
            line_no += 1;
            let line = next_line(&mut rest).ok_or(TlogProofError::MissingCheckpoint)?;
            if line.is_empty() {
                break;
            }
            if hashes.len() == MAX_PROOF_HASHES {
                return Err(TlogProofError::TooManyHashes);
            }
            hashes.push(
                Hash::from_base64(line).ok_or(TlogProofError::MalformedHash { line: line_no })?,
            );
        }
        if rest.is_empty() {
            return Err(TlogProofError::MissingCheckpoint);
        }
        Ok(TlogProof {
            extra,
            index: LogIndex(index),
            hashes,
            checkpoint: rest.as_bytes().to_vec(),
        })
    }
}

/// The next newline-terminated line, advancing `rest` past it.
fn next_line<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let (line, tail) = rest.split_once('\n')?;
    *rest = tail;
    Some(line)
}

/// An ASCII decimal with no leading zeroes (unless it is `0`).
fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical { text.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKPOINT: &str = "example.com/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} example.com/log AAAAAQ==\n";

    fn sample() -> TlogProof {
        TlogProof {
            extra: None,
            index: LogIndex(2),
            hashes: vec![Hash([1; 32]), Hash([2; 32])],
            checkpoint: CHECKPOINT.as_bytes().to_vec(),
        }
    }

    #[test]
    fn writes_the_spec_layout_and_parses_it_back() {
        let proof = sample();
        let text = proof.to_text();
        let expected = format!(
            "c2sp.org/tlog-proof@v1\nindex 2\n{}\n{}\n\n{CHECKPOINT}",
            Hash([1; 32]).to_base64(),
            Hash([2; 32]).to_base64()
        );
        assert_eq!(text, expected);
        assert_eq!(TlogProof::parse(&text), Ok(proof));

        let with_extra = TlogProof {
            extra: Some(b"context".to_vec()),
            hashes: vec![],
            ..sample()
        };
        let text = with_extra.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra Y29udGV4dA==\nindex 2\n\n"));
        assert_eq!(TlogProof::parse(&text), Ok(with_extra));
    }

    #[test]
    fn malformed_proofs_name_the_line() {
        let good = sample().to_text();
        let cases = [
            (
                good.replace("tlog-proof@v1", "tlog-proof@v2"),
                TlogProofError::MissingHeader,
            ),
            (
                good.replace("index 2", "index 02"),
                TlogProofError::MalformedIndex { line: 2 },
            ),
            (
                good.replace("index 2", "index -2"),
                TlogProofError::MalformedIndex { line: 2 },
            ),
            (
                good.replace("index 2", "idx 2"),
                TlogProofError::MalformedIndex { line: 2 },
            ),
            (
                good.replacen(&Hash([2; 32]).to_base64(), "AQID", 1),
                TlogProofError::MalformedHash { line: 4 },
            ),
            (
                "c2sp.org/tlog-proof@v1\nextra !!\nindex 0\n\nx".to_owned(),
                TlogProofError::MalformedExtra { line: 2 },
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex 0\n".to_owned(),
                TlogProofError::MissingCheckpoint,
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex 0\n\n".to_owned(),
                TlogProofError::MissingCheckpoint,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(TlogProof::parse(&text), Err(want.clone()), "{text:?}");
        }
        let long = format!(
            "c2sp.org/tlog-proof@v1\nindex 0\n{}\nx",
            format!("{}\n", Hash([3; 32]).to_base64()).repeat(MAX_PROOF_HASHES + 1)
        );
        assert_eq!(TlogProof::parse(&long), Err(TlogProofError::TooManyHashes));
    }
}
