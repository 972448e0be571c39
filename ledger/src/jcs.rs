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
//! `serde_json_canonicalizer` crate in the tests. Deliberately not here:
//! parsing (serde_json does that), and numbers RFC 8785 cannot carry
//! exactly (the event model refuses integers beyond 2^53 before this runs).

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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Byte for byte what an independent RFC 8785 implementation writes.
        #[test]
        fn equals_the_reference_implementation(v in arb_json()) {
            prop_assert_eq!(canonical(&v), reference(&v));
        }
    }
}
