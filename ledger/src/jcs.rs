//! RFC 8785 JSON Canonicalization Scheme, written straight from values.
//!
//! The canonical form of a JSON value is: no whitespace; strings with only
//! the escapes ECMAScript's `JSON.stringify` makes (RFC 8785 §3.2.2.2);
//! numbers as ECMAScript writes an IEEE 754 double (§3.2.2.3); object
//! members sorted by the UTF-16 code units of their names (§3.2.3).
//!
//! This writer works on `serde_json::Value` and plain strings directly,
//! without serde's serializer machinery, because every append and every
//! audited entry goes through it. It is checked byte for byte against the
//! `serde_json_canonicalizer` crate in the tests. [`is_canonical_subset`]
//! goes the other way for an auditor: it shows bytes canonical without
//! parsing them into values, within a subset, leaving the rest to the slow
//! path. Deliberately not here: parsing (serde_json does that), and numbers
//! RFC 8785 cannot carry exactly (the event model refuses integers beyond
//! 2^53 before this runs).

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

/// Appends the canonical form of `value` to `out`.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

/// Appends the canonical form of an object.
pub fn write_object(out: &mut Vec<u8>, map: &Map<String, Value>) {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    // serde_json's default map iterates in UTF-8 byte order, which is the
    // UTF-16 order unless a name holds characters at or above U+E000; sort
    // only when the order is not already right (or the map keeps insertion
    // order, with serde_json's `preserve_order`).
    if !members
        .windows(2)
        .all(|w| utf16_cmp(w[0].0, w[1].0) == Ordering::Less)
    {
        members.sort_by(|a, b| utf16_cmp(a.0, b.0));
    }
    out.push(b'{');
    for (i, (name, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, name);
        out.push(b':');
        write_value(out, value);
    }
    out.push(b'}');
}

/// Appends a JSON string as RFC 8785 §3.2.2.2 writes it.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0a => b"\\n",
            0x0c => b"\\f",
            0x0d => b"\\r",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends a number as ECMAScript writes the nearest double (§3.2.2.3).
pub fn write_number(out: &mut Vec<u8>, n: &Number) {
    if let Some(i) = n.as_i64() {
        // Integers within ±2^53 are doubles exactly and ECMAScript writes
        // them without fraction or exponent.
        if i.unsigned_abs() <= 1 << 53 {
            out.extend_from_slice(i.to_string().as_bytes());
            return;
        }
    } else if let Some(u) = n.as_u64()
        && u <= 1 << 53
    {
        out.extend_from_slice(u.to_string().as_bytes());
        return;
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if f == 0.0 {
        // Both zeros are written "0".
        out.push(b'0');
    } else if f.is_finite() {
        let mut buf = ryu_js::Buffer::new();
        out.extend_from_slice(buf.format_finite(f).as_bytes());
    } else {
        // serde_json cannot hold NaN or infinities; keep the output JSON.
        out.extend_from_slice(b"null");
    }
}

/// Whether `bytes` are, byte for byte, the RFC 8785 form of the JSON value
/// they denote, shown without building that value: one pass, no
/// allocation. It answers only within a narrow subset, and `false` means
/// "not shown here", not "not canonical": numbers must be integers within
/// ±(2^53−1) (the ones the event model accepts and writes without
/// ryu), strings must hold no escape (no `\`, no control character), and
/// nesting must stay within 64 levels. Anything else is left to the caller's
/// slow path, parsing and re-canonicalising. UTF-8 is validated.
pub fn is_canonical_subset(bytes: &[u8]) -> bool {
    canonical_subset_prefix(bytes) == Some(bytes.len())
}

/// The length of the value `bytes` begin with, when [`is_canonical_subset`]
/// would accept those bytes alone (what follows is not looked at).
pub fn canonical_subset_prefix(bytes: &[u8]) -> Option<usize> {
    let mut scan = Scan { bytes, at: 0 };
    scan.value(0).then_some(scan.at)
}

/// Nesting the fast check follows before it gives up (serde_json stops at 128).
const MAX_DEPTH: usize = 64;

/// A cursor over bytes being checked by [`is_canonical_subset`].
struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let ok = self.peek() == Some(b);
        self.at += usize::from(ok);
        ok
    }

    fn value(&mut self, depth: usize) -> bool {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().is_some(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.integer(),
            _ => false,
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let ok = self.bytes[self.at..].starts_with(word);
        self.at += if ok { word.len() } else { 0 };
        ok
    }

    /// `0` or `-?[1-9][0-9]*` within ±(2^53−1), as ECMAScript writes an
    /// integral double (RFC 8785 §3.2.2.3); `-0`, fractions and exponents
    /// are not shown here.
    fn integer(&mut self) -> bool {
        let negative = self.eat(b'-');
        let start = self.at;
        let mut value: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            if self.at - start == 16 {
                return false;
            }
            value = value * 10 + u64::from(d - b'0');
            self.at += 1;
        }
        let digits = &self.bytes[start..self.at];
        let shape = match digits {
            [] => false,
            [b'0'] => !negative,
            [first, ..] => *first != b'0',
        };
        shape
            && value <= crate::ids::MAX_SAFE_INTEGER
            && !matches!(self.peek(), Some(b'.' | b'e' | b'E'))
    }

    /// A string without escapes or control characters; its text.
    fn string(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.at;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' | 0x00..=0x1f => return None,
                _ => self.at += 1,
            }
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).ok()?;
        self.at += 1;
        Some(text)
    }

    /// Members strictly in UTF-16 order of their names (so no duplicates).
    fn object(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH || !self.eat(b'{') {
            return false;
        }
        if self.eat(b'}') {
            return true;
        }
        let mut previous: Option<&str> = None;
        loop {
            let Some(name) = self.string() else {
                return false;
            };
            if previous.is_some_and(|p| utf16_cmp(p, name) != Ordering::Less) {
                return false;
            }
            previous = Some(name);
            if !self.eat(b':') || !self.value(depth) {
                return false;
            }
            if self.eat(b'}') {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }

    fn array(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH || !self.eat(b'[') {
            return false;
        }
        if self.eat(b']') {
            return true;
        }
        loop {
            if !self.value(depth) {
                return false;
            }
            if self.eat(b']') {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }
}

/// Compares two names by their UTF-16 code units (RFC 8785 §3.2.3).
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.as_bytes().cmp(b.as_bytes());
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn canonical(v: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn reference(v: &Value) -> String {
        serde_json_canonicalizer::to_string(v).unwrap()
    }

    /// RFC 8785 §3.2.2's example of value serialisation, and §3.2.3's of
    /// member sorting (names that differ in UTF-16 and code-point order).
    #[test]
    fn rfc_8785_examples() {
        let v: Value = serde_json::from_str(
            r#"{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
                "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
                "literals": [null, true, false]}"#,
        )
        .unwrap();
        assert_eq!(
            canonical(&v),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
        let sorted: Value = serde_json::from_str(
            r#"{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
                "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}"#,
        )
        .unwrap();
        let text = canonical(&sorted);
        let order: Vec<&str> = [
            "Carriage Return",
            "One",
            "Control",
            "Latin Small Letter O With Diaeresis",
            "Euro Sign",
            "Emoji: Grinning Face",
            "Hebrew Letter Dalet With Dagesh",
        ]
        .to_vec();
        let positions: Vec<usize> = order.iter().map(|n| text.find(n).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn integers_and_zeros() {
        for (v, want) in [
            (json!(0), "0"),
            (json!(-0.0), "0"),
            (json!(9_007_199_254_740_992u64), "9007199254740992"),
            (json!(-9_007_199_254_740_992i64), "-9007199254740992"),
            (json!(1e21), "1e+21"),
            (json!(123.0), "123"),
        ] {
            assert_eq!(canonical(&v), want);
            assert_eq!(canonical(&v), reference(&v));
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-(1i64 << 53)..=(1i64 << 53)).prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            "\\PC{0,12}".prop_map(Value::String),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 32, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map(any::<String>(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Values inside the subset [`is_canonical_subset`] decides: safe
    /// integers, strings without escapes (names with characters on both
    /// sides of U+E000, where UTF-8 and UTF-16 orders differ).
    fn arb_subset_json() -> impl Strategy<Value = Value> {
        let text = "[a-z0-9 .é€😀\u{e000}-\u{e010}\u{ff01}]{0,6}";
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-(MAX_SAFE as i64)..=MAX_SAFE as i64).prop_map(|n| json!(n)),
            text.prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 32, 5, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map(text, inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    const MAX_SAFE: u64 = crate::ids::MAX_SAFE_INTEGER;

    /// What "true" must mean: the bytes parse, and re-canonicalised they
    /// are the same bytes.
    fn assert_sound(bytes: &[u8]) -> Result<(), TestCaseError> {
        if is_canonical_subset(bytes) {
            let parsed: Value = serde_json::from_slice(bytes)
                .map_err(|e| TestCaseError::fail(format!("accepted but unparsable: {e}")))?;
            let mut again = Vec::new();
            write_value(&mut again, &parsed);
            prop_assert_eq!(
                String::from_utf8_lossy(&again),
                String::from_utf8_lossy(bytes)
            );
        }
        Ok(())
    }

    #[test]
    fn the_fast_check_by_example() {
        for (text, want) in [
            (r#"{"a":[1,-2,0,true,false,null,"x"],"b":{}}"#, true),
            ("9007199254740991", true),
            ("-9007199254740991", true),
            ("9007199254740992", false),
            ("-0", false),
            ("01", false),
            ("1.0", false),
            ("1.5", false),
            ("1e3", false),
            ("-", false),
            (r#"{"b":1,"a":2}"#, false),
            (r#"{"a":1,"a":1}"#, false),
            (r#"{"a": 1}"#, false),
            (" 1", false),
            ("[1,]", false),
            ("{\"a\":1}", true),
            (r#""\u00e9""#, false),
            (r#""a\nb""#, false),
            ("\"a\u{1}b\"", false),
            ("\"é\"", true),
            ("tru", false),
            ("[1]]", false),
            // UTF-16 order puts U+1F600 (a surrogate pair, D83D…) before
            // U+E000; UTF-8 byte order would put it after.
            ("{\"😀\":1,\"\u{e000}\":2}", true),
            ("{\"\u{e000}\":2,\"😀\":1}", false),
        ] {
            assert_eq!(is_canonical_subset(text.as_bytes()), want, "{text}");
        }
        assert!(!is_canonical_subset(b"\"\xff\""), "invalid UTF-8");
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert!(!is_canonical_subset(deep.as_bytes()));
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(is_canonical_subset(ok.as_bytes()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Byte for byte what an independent RFC 8785 implementation writes.
        #[test]
        fn equals_the_reference_implementation(v in arb_json()) {
            prop_assert_eq!(canonical(&v), reference(&v));
        }

        /// Inside its subset the fast check recognises the canonical form.
        #[test]
        fn the_fast_check_knows_canonical_bytes(v in arb_subset_json()) {
            prop_assert!(is_canonical_subset(canonical(&v).as_bytes()), "{}", canonical(&v));
        }

        /// Whatever it accepts is canonical: canonical bytes, serde_json's
        /// own writing, and both with one byte changed, removed or doubled.
        #[test]
        fn the_fast_check_is_sound(
            v in prop_oneof![arb_json(), arb_subset_json()],
            at in any::<prop::sample::Index>(),
            byte in prop_oneof![any::<u8>(), prop::sample::select(b"{}[],:\"0-1e. a\\".to_vec())],
        ) {
            for bytes in [canonical(&v).into_bytes(), serde_json::to_vec(&v).unwrap()] {
                assert_sound(&bytes)?;
                if bytes.is_empty() {
                    continue;
                }
                let i = at.index(bytes.len());
                let mut changed = bytes.clone();
                changed[i] = byte;
                assert_sound(&changed)?;
                let mut removed = bytes.clone();
                removed.remove(i);
                assert_sound(&removed)?;
                let mut doubled = bytes.clone();
                doubled.insert(i, bytes[i]);
                assert_sound(&doubled)?;
            }
        }
    }
}
