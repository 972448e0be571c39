//! RFC 3339 UTC timestamps that keep the exact text they were written with.
//!
//! The author signs the bytes it sent, so a caller's `occurred_at` is kept
//! verbatim (it must parse as RFC 3339 and end in `Z`); the server's
//! `recorded_at` is always written with exactly six fractional digits.

use std::cmp::Ordering;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// An instant, UTC, with the RFC 3339 text it is written as.
#[derive(Clone, Debug)]
pub struct Timestamp {
    at: DateTime<Utc>,
    text: String,
}

impl Timestamp {
    /// Parses RFC 3339 text in UTC (`…Z`), keeping the text verbatim.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidTimestamp {
            text: text.chars().take(64).collect(),
            reason: reason.to_owned(),
        };
        if !text.ends_with('Z') {
            return Err(bad("must be UTC, ending in 'Z'"));
        }
        if text.len() > 40 {
            return Err(bad("too long"));
        }
        let at = DateTime::parse_from_rfc3339(text)
            .map_err(|e| bad(&e.to_string()))?
            .with_timezone(&Utc);
        // Lower-case 't'/'z' and other RFC 3339 leniencies would give one
        // instant two spellings; insist on the upper-case form.
        if text.as_bytes().get(10) != Some(&b'T') {
            return Err(bad("date and time must be separated by 'T'"));
        }
        Ok(Timestamp {
            at,
            text: text.to_owned(),
        })
    }

    /// `at` written as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        let text = at.to_rfc3339_opts(SecondsFormat::Micros, true);
        // Round-trip so that `at` holds exactly what the text says.
        let at = DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(at);
        Timestamp { at, text }
    }

    pub fn now() -> Self {
        Self::from_datetime(Utc::now())
    }

    pub fn datetime(&self) -> DateTime<Utc> {
        self.at
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Timestamp {}
impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at.cmp(&other.at)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::ids::from_text(d, Timestamp::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_caller_text_and_compares_instants() {
        let a = Timestamp::parse("2026-11-26T09:00:00Z").unwrap();
        let b = Timestamp::parse("2026-11-26T09:00:00.000Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "2026-11-26T09:00:00Z");
        assert_eq!(b.as_str(), "2026-11-26T09:00:00.000Z");
    }

    #[test]
    fn refuses_offsets_and_junk() {
        for bad in [
            "2026-11-26T09:00:00+08:00",
            "2026-11-26 09:00:00Z",
            "2026-11-26t09:00:00Z",
            "yesterday",
            "2026-13-01T00:00:00Z",
        ] {
            assert!(
                matches!(Timestamp::parse(bad), Err(Error::InvalidTimestamp { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn server_time_has_six_fraction_digits() {
        let t = Timestamp::now();
        assert_eq!(t.as_str().len(), "2026-11-26T09:00:00.000000Z".len());
        assert_eq!(Timestamp::parse(t.as_str()).unwrap(), t);
    }
}
