//! Department keys and their history (SPEC.md §5).
//!
//! Keys are registered and revoked by events in the `registry` stream, so
//! the key history is itself in the verifiable log. [`KeyRegistry`] is the
//! state those events build, applied in log order; it answers "may this key
//! sign for this department at this moment?". Pure: no I/O, no storage.

use std::collections::HashMap;
use std::fmt;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::event::{
    AuthorSignature, Event, ProposedEvent, SignatureAlgorithm, b64_decode, b64_encode,
};
use crate::ids::ActorId;
use crate::time::Timestamp;

/// Event type that registers a key in the `registry` stream.
pub const KEY_REGISTERED: &str = "key.registered";
/// Event type that revokes a key in the `registry` stream.
pub const KEY_REVOKED: &str = "key.revoked";

/// A key's id: `<alg>:<first 8 bytes of SHA-256(public key), hex>`, e.g.
/// `ed25519:3f1c0e9a5b7d2c41`. Derived from the key, so it cannot be
/// claimed for another key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    pub fn new(text: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidKeyId {
            id: text.chars().take(80).collect(),
        };
        let (alg, fp) = text.split_once(':').ok_or_else(bad)?;
        SignatureAlgorithm::parse(alg).map_err(|_| bad())?;
        if fp.len() != 16
            || !fp
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad());
        }
        Ok(KeyId(text.to_owned()))
    }

    /// The id of a public key.
    pub fn derive(key: &PublicKey) -> Self {
        let digest = crate::sha256::digest(key.bytes());
        KeyId(format!(
            "{}:{}",
            key.algorithm().as_str(),
            hex::encode(&digest[..8])
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyId::new(&s).map_err(serde::de::Error::custom)
    }
}

/// A public key, tagged with its algorithm.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKey {
    Ed25519(VerifyingKey),
}

impl PublicKey {
    pub fn algorithm(&self) -> SignatureAlgorithm {
        match self {
            PublicKey::Ed25519(_) => SignatureAlgorithm::Ed25519,
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        match self {
            PublicKey::Ed25519(k) => k.to_bytes().to_vec(),
        }
    }

    /// Parses base64 key bytes for `alg`, refusing weak (small-order) keys.
    pub fn from_base64(alg: SignatureAlgorithm, text: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidRegistryEvent {
            reason: format!("public_key: {reason}"),
        };
        let bytes = b64_decode(text).ok_or_else(|| bad("not base64"))?;
        match alg {
            SignatureAlgorithm::Ed25519 => {
                let arr: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad("an Ed25519 key is 32 bytes"))?;
                let key = VerifyingKey::from_bytes(&arr).map_err(|_| bad("not a curve point"))?;
                if key.is_weak() {
                    return Err(bad("weak (small-order) key"));
                }
                Ok(PublicKey::Ed25519(key))
            }
        }
    }

    pub fn to_base64(&self) -> String {
        b64_encode(&self.bytes())
    }

    /// Checks `sig` over `msg` (strict RFC 8032 verification).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            PublicKey::Ed25519(k) => match Signature::from_slice(sig) {
                Ok(sig) => k.verify_strict(msg, &sig).is_ok(),
                Err(_) => false,
            },
        }
    }
}

/// Payload of a `key.registered` event.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRegistration {
    pub key: KeyId,
    pub alg: SignatureAlgorithm,
    pub public_key: String,
    pub department: ActorId,
    /// Signatures made before this instant are refused; defaults to the
    /// registration's own `recorded_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
}

impl KeyRegistration {
    pub fn new(key: &PublicKey, department: ActorId, valid_from: Option<Timestamp>) -> Self {
        KeyRegistration {
            key: KeyId::derive(key),
            alg: key.algorithm(),
            public_key: key.to_base64(),
            department,
            valid_from,
        }
    }

    pub fn to_payload(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            // A struct with named fields always serialises to an object.
            _ => Map::new(),
        }
    }
}

/// Payload of a `key.revoked` event.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRevocation {
    pub key: KeyId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl KeyRevocation {
    pub fn to_payload(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            // A struct with named fields always serialises to an object.
            _ => Map::new(),
        }
    }
}

/// One key's record, as the registry events left it.
#[derive(Clone, Debug)]
pub struct KeyRecord {
    pub key: KeyId,
    pub public_key: PublicKey,
    pub department: ActorId,
    pub valid_from: Timestamp,
    /// `recorded_at` of the revocation event, if revoked.
    pub revoked_at: Option<Timestamp>,
}

/// Key state built from `registry` events in log order.
#[derive(Clone, Debug, Default)]
pub struct KeyRegistry {
    keys: HashMap<KeyId, KeyRecord>,
}

enum KeyChange {
    Register(Box<KeyRecord>),
    Revoke(KeyId),
}

impl KeyRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, key: &KeyId) -> Option<&KeyRecord> {
        self.keys.get(key)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks that a registry event would apply, without applying it.
    /// `recorded_at` is the time it would be sequenced at.
    pub fn check(&self, event: &ProposedEvent, recorded_at: &Timestamp) -> Result<(), Error> {
        if event.stream.is_registry() {
            self.change(event, recorded_at)?;
        }
        Ok(())
    }

    /// Applies a sequenced event; events outside `registry` are ignored.
    pub fn apply(&mut self, event: &Event) -> Result<(), Error> {
        if !event.stream.is_registry() {
            return Ok(());
        }
        match self.change(&event.proposed(), &event.recorded_at)? {
            Some(KeyChange::Register(record)) => {
                self.keys.insert(record.key.clone(), *record);
            }
            Some(KeyChange::Revoke(key)) => {
                if let Some(rec) = self.keys.get_mut(&key) {
                    rec.revoked_at = Some(event.recorded_at.clone());
                }
            }
            None => {}
        }
        Ok(())
    }

    fn change(&self, event: &ProposedEvent, at: &Timestamp) -> Result<Option<KeyChange>, Error> {
        let bad = |reason: String| Error::InvalidRegistryEvent { reason };
        let payload = Value::Object(event.payload.clone());
        match event.event_type.as_str() {
            KEY_REGISTERED => {
                let reg: KeyRegistration = serde_json::from_value(payload)
                    .map_err(|e| bad(format!("{KEY_REGISTERED}: {e}")))?;
                let public_key = PublicKey::from_base64(reg.alg, &reg.public_key)?;
                let derived = KeyId::derive(&public_key);
                if derived != reg.key {
                    return Err(bad(format!(
                        "key id {} does not match the public key (its id is {derived})",
                        reg.key
                    )));
                }
                if self.keys.contains_key(&reg.key) {
                    return Err(bad(format!("key {} is already registered", reg.key)));
                }
                Ok(Some(KeyChange::Register(Box::new(KeyRecord {
                    key: reg.key,
                    public_key,
                    department: reg.department,
                    valid_from: reg.valid_from.unwrap_or_else(|| at.clone()),
                    revoked_at: None,
                }))))
            }
            KEY_REVOKED => {
                let rev: KeyRevocation = serde_json::from_value(payload)
                    .map_err(|e| bad(format!("{KEY_REVOKED}: {e}")))?;
                match self.keys.get(&rev.key) {
                    None => Err(Error::UnknownKey { key: rev.key }),
                    Some(r) if r.revoked_at.is_some() => {
                        Err(bad(format!("key {} is already revoked", rev.key)))
                    }
                    Some(_) => Ok(Some(KeyChange::Revoke(rev.key))),
                }
            }
            _ => Ok(None),
        }
    }

    /// May `sig.key` sign for `department` at `at`? (No cryptography.)
    pub fn authorize(
        &self,
        sig: &AuthorSignature,
        department: &ActorId,
        at: &Timestamp,
    ) -> Result<&KeyRecord, Error> {
        let rec = self.keys.get(&sig.key).ok_or_else(|| Error::UnknownKey {
            key: sig.key.clone(),
        })?;
        if rec.public_key.algorithm() != sig.alg {
            return Err(Error::UnsupportedAlgorithm {
                alg: format!(
                    "{} (key {} is {})",
                    sig.alg.as_str(),
                    sig.key,
                    rec.public_key.algorithm().as_str()
                ),
            });
        }
        if let Some(revoked_at) = &rec.revoked_at {
            return Err(Error::KeyRevoked {
                key: sig.key.clone(),
                revoked_at: revoked_at.clone(),
            });
        }
        if at < &rec.valid_from {
            return Err(Error::KeyNotYetValid {
                key: sig.key.clone(),
                valid_from: rec.valid_from.clone(),
            });
        }
        if &rec.department != department {
            return Err(Error::KeyDepartmentMismatch {
                key: sig.key.clone(),
                key_department: rec.department.clone(),
                actor_department: department.clone(),
            });
        }
        Ok(rec)
    }

    /// Full check of an author signature: key status, then Ed25519.
    pub fn verify_author(&self, event: &ProposedEvent, at: &Timestamp) -> Result<(), Error> {
        let Some(sig) = &event.signature else {
            return Ok(());
        };
        let rec = self.authorize(sig, &event.actor.department, at)?;
        verify_signature_bytes(event, rec, sig)
    }
}

/// One signature to check: `sig` by `key` over `msg`.
#[derive(Clone, Copy, Debug)]
pub struct SignatureCheck<'a> {
    pub key: &'a PublicKey,
    pub msg: &'a [u8],
    pub sig: &'a [u8],
}

/// Which of curve25519-dalek's field-arithmetic backends this process
/// verifies Ed25519 signatures with: `"avx512ifma"`, `"avx2"` or
/// `"portable"`. The crate picks it once, at run time, among the backends
/// compiled in; the workspace's `.cargo/config.toml` compiles in the
/// AVX-512 IFMA one on x86_64, which the crate leaves out by default. Benches
/// print it beside their figures: verification rates on two machines
/// compare only on the same backend.
pub fn ed25519_backend() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if cfg!(curve25519_dalek_backend = "avx512")
            && std::arch::is_x86_feature_detected!("avx512ifma")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            return "avx512ifma";
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
    }
    "portable"
}

/// Checks many signatures at once; the answer for each is exactly what
/// [`PublicKey::verify`] (strict RFC 8032 §5.1.7 verification) would give.
///
/// Ed25519 batch verification checks one random linear combination of the
/// signature equations, which is about twice as fast per signature. The
/// batch equation alone accepts two things strict verification refuses: an
/// `R` written in a non-canonical encoding, and an `R` of small order
/// (small-order keys are refused when registered). Those are ruled out first,
/// so a batch's verdict never depends on which signatures share it. A failed
/// batch is re-checked one by one to find the culprits.
pub fn verify_signatures(checks: &[SignatureCheck<'_>]) -> Vec<bool> {
    const BATCH: usize = 64;
    let mut out = Vec::with_capacity(checks.len());
    for chunk in checks.chunks(BATCH) {
        if chunk.len() > 1 && batch_passes(chunk) {
            out.extend(std::iter::repeat_n(true, chunk.len()));
        } else {
            out.extend(chunk.iter().map(|c| c.key.verify(c.msg, c.sig)));
        }
    }
    out
}

/// Ed25519 batch verification (Bernstein, Duif, Lange, Schwabe, Yang,
/// "High-speed high-security signatures", §5; the equation of
/// ed25519-dalek's `verify_batch`, cofactorless): with independent random
/// 128-bit `z_i` and `k_i = SHA-512(R_i ‖ A_i ‖ M_i) mod ℓ`, the batch holds
/// iff `[−Σ z_i·s_i]B + Σ [z_i]R_i + Σ [z_i·k_i]A_i` is the identity.
///
/// Terms of one key are merged, `Σ [z_i·k_i]A = [Σ z_i·k_i]A`, so a batch
/// signed by `k` keys is one multiscalar multiplication over `1 + n + k`
/// points instead of `1 + 2n`: a ledger's signatures come from a few
/// department keys, each signing many events. The equation is the same
/// sum, so the verdict is the same.
fn batch_passes(chunk: &[SignatureCheck<'_>]) -> bool {
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
    use rand::Rng as _;
    use sha2::{Digest, Sha512};

    let mut rng = rand::rng();
    let mut base = Scalar::ZERO;
    let mut scalars = Vec::with_capacity(1 + chunk.len() * 2);
    let mut points = Vec::with_capacity(1 + chunk.len() * 2);
    scalars.push(Scalar::ZERO); // the base point's, once the sum is known
    points.push(curve25519_dalek::constants::ED25519_BASEPOINT_POINT);
    // Per distinct key: its bytes and its merged coefficient.
    let mut keys: Vec<(&VerifyingKey, Scalar)> = Vec::new();
    for c in chunk {
        let PublicKey::Ed25519(key) = c.key;
        let Ok(sig) = Signature::from_slice(c.sig) else {
            return false;
        };
        let r_bytes = sig.r_bytes();
        // Strict verification's own refusals first (RFC 8032 §5.1.7: a
        // canonical `S`; and see `r_is_strictly_acceptable`).
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*sig.s_bytes())) else {
            return false;
        };
        if !r_is_strictly_acceptable(r_bytes) || key.is_weak() {
            return false;
        }
        let Some(r) = CompressedEdwardsY(*r_bytes).decompress() else {
            return false;
        };
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(r_bytes)
                .chain_update(key.as_bytes())
                .chain_update(c.msg),
        );
        let mut z_bytes = [0u8; 16];
        rng.fill_bytes(&mut z_bytes);
        let z = Scalar::from(u128::from_le_bytes(z_bytes));
        base -= z * s;
        scalars.push(z);
        points.push(r);
        let zk = z * k;
        match keys
            .iter_mut()
            .find(|(seen, _)| seen.as_bytes() == key.as_bytes())
        {
            Some((_, coefficient)) => *coefficient += zk,
            None => keys.push((key, zk)),
        }
    }
    scalars[0] = base;
    for (key, coefficient) in keys {
        scalars.push(coefficient);
        points.push(key.to_edwards());
    }
    EdwardsPoint::vartime_multiscalar_mul(&scalars, &points).is_identity()
}

/// Whether strict verification could accept `R` at all: its y coordinate is
/// written canonically (below p = 2^255 − 19), and it is not one of the
/// eight points of small order (in any encoding with y < p). Byte checks
/// only: no field arithmetic.
fn r_is_strictly_acceptable(r: &[u8; 32]) -> bool {
    // y ≥ p, little-endian: 0x7f, thirty 0xff, then a low byte ≥ 0xed.
    let y_top = r[31] & 0x7f;
    if y_top == 0x7f && r[1..31].iter().all(|&b| b == 0xff) && r[0] >= 0xed {
        return false;
    }
    !small_order_encodings().contains(r)
}

/// The canonical encodings of the eight small-order points, and those of
/// the two with x = 0 (identity, order 2) with the sign bit set.
fn small_order_encodings() -> &'static [[u8; 32]; 10] {
    static ENCODINGS: std::sync::OnceLock<[[u8; 32]; 10]> = std::sync::OnceLock::new();
    ENCODINGS.get_or_init(|| {
        let mut out = [[0u8; 32]; 10];
        for (slot, point) in out
            .iter_mut()
            .zip(curve25519_dalek::constants::EIGHT_TORSION.iter())
        {
            *slot = point.compress().to_bytes();
        }
        // Index 0 is the identity and 4 the point of order 2 (x = 0).
        for (k, torsion) in [0, 4].into_iter().enumerate() {
            let mut flipped = out[torsion];
            flipped[31] |= 0x80;
            out[8 + k] = flipped;
        }
        out
    })
}

/// The cryptographic half of [`KeyRegistry::verify_author`].
pub fn verify_signature_bytes(
    event: &ProposedEvent,
    rec: &KeyRecord,
    sig: &AuthorSignature,
) -> Result<(), Error> {
    let msg = event.signing_bytes()?;
    if rec.public_key.verify(&msg, &sig.sig.0) {
        Ok(())
    } else {
        Err(Error::BadSignature { id: event.id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::LeafHash;
    use crate::ids::{EventType, StreamId, StreamVersion};
    use ed25519_dalek::SigningKey;

    /// The byte-level R checks agree with what curve arithmetic says.
    #[test]
    fn r_checks_match_the_curve() {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        for enc in small_order_encodings() {
            assert!(!r_is_strictly_acceptable(enc));
            let point = CompressedEdwardsY(*enc).decompress().expect("on the curve");
            assert!(point.is_small_order());
        }
        // y = p + 1 (i.e. 1, written non-canonically) and y = p.
        let mut p_plus_one = [0xff; 32];
        p_plus_one[0] = 0xee;
        p_plus_one[31] = 0x7f;
        assert!(!r_is_strictly_acceptable(&p_plus_one));
        p_plus_one[0] = 0xed;
        assert!(!r_is_strictly_acceptable(&p_plus_one));
        // The largest canonical y, p - 1 = -1, is the point of order 2.
        p_plus_one[0] = 0xec;
        assert!(small_order_encodings().contains(&p_plus_one));
        assert!(!r_is_strictly_acceptable(&p_plus_one));
        // Real signatures' R values pass.
        let sk = SigningKey::from_bytes(&[9; 32]);
        for n in 0u32..200 {
            let sig = ed25519_dalek::Signer::sign(&sk, &n.to_be_bytes());
            assert!(r_is_strictly_acceptable(sig.r_bytes()));
        }
    }

    /// How a signature in a batch may be spoiled.
    #[derive(Clone, Copy, Debug)]
    enum Spoil {
        Good,
        Message,
        RByte,
        SByte,
        /// `s + ℓ`: the same signature equation, but not canonical.
        SPlusL,
        /// Checked against another of the batch's keys.
        OtherKey,
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Batches signed by one to four keys (terms of a key merged) give,
        /// signature by signature, strict verification's verdict; and the
        /// batch equation holds exactly when every signature is good.
        #[test]
        fn batches_by_few_keys_agree_with_strict_verification(
            keys in 1usize..=4,
            spoils in proptest::collection::vec(
                proptest::prop_oneof![
                    12 => proptest::strategy::Just(Spoil::Good),
                    1 => proptest::strategy::Just(Spoil::Message),
                    1 => proptest::strategy::Just(Spoil::RByte),
                    1 => proptest::strategy::Just(Spoil::SByte),
                    1 => proptest::strategy::Just(Spoil::SPlusL),
                    1 => proptest::strategy::Just(Spoil::OtherKey),
                ],
                2..100,
            ),
            seed in proptest::prelude::any::<u8>(),
        ) {
            use curve25519_dalek::scalar::Scalar;
            let signers: Vec<SigningKey> =
                (0..keys).map(|k| SigningKey::from_bytes(&[seed ^ (k as u8 + 1); 32])).collect();
            let publics: Vec<PublicKey> =
                signers.iter().map(|sk| PublicKey::Ed25519(sk.verifying_key())).collect();
            let mut items: Vec<(usize, Vec<u8>, Vec<u8>)> = Vec::new();
            for (i, spoil) in spoils.iter().enumerate() {
                let k = i % keys;
                let msg = format!("event {i} of batch {seed}").into_bytes();
                let mut sig = ed25519_dalek::Signer::sign(&signers[k], &msg).to_bytes().to_vec();
                let mut msg = msg;
                let mut key = k;
                match spoil {
                    Spoil::Good => {}
                    Spoil::Message => msg[0] ^= 1,
                    Spoil::RByte => sig[i % 32] ^= 0x10,
                    Spoil::SByte => sig[32 + i % 31] ^= 0x01,
                    Spoil::SPlusL => {
                        let s = Scalar::from_canonical_bytes(sig[32..].try_into().unwrap()).unwrap();
                        // ℓ = 2^252 + 27742317777372353535851937790883648493;
                        // s + ℓ < 2^256 whenever s < 2^253, as it is here.
                        let l: [u8; 32] = [
                            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2,
                            0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                            0x10,
                        ];
                        let mut carry = 0u16;
                        let mut sum = [0u8; 32];
                        for b in 0..32 {
                            let t = u16::from(s.as_bytes()[b]) + u16::from(l[b]) + carry;
                            sum[b] = t as u8;
                            carry = t >> 8;
                        }
                        sig[32..].copy_from_slice(&sum);
                    }
                    Spoil::OtherKey => key = (k + 1) % keys,
                }
                items.push((key, msg, sig));
            }
            let checks: Vec<SignatureCheck<'_>> = items
                .iter()
                .map(|(k, msg, sig)| SignatureCheck { key: &publics[*k], msg, sig })
                .collect();
            let one_by_one: Vec<bool> = checks.iter().map(|c| c.key.verify(c.msg, c.sig)).collect();
            proptest::prop_assert_eq!(verify_signatures(&checks), one_by_one.clone());
            for chunk in checks.chunks(64).zip(one_by_one.chunks(64)) {
                proptest::prop_assert_eq!(batch_passes(chunk.0), chunk.1.iter().all(|ok| *ok));
            }
        }
    }

    fn registry_event(
        event_type: &str,
        payload: Map<String, Value>,
        at: &str,
        version: u64,
    ) -> Event {
        let p = ProposedEvent::new(
            StreamId::registry(),
            EventType::new(event_type).unwrap(),
            Timestamp::parse(at).unwrap(),
            crate::event::Actor {
                department: ActorId::new("ledger-admin").unwrap(),
                officer: None,
            },
            payload,
        );
        p.seal(
            StreamVersion(version),
            Timestamp::parse(at).unwrap(),
            LeafHash::GENESIS,
        )
        .unwrap()
        .event
    }

    #[test]
    fn key_lifecycle() {
        let sk = SigningKey::from_bytes(&[7u8; 32]);
        let pk = PublicKey::Ed25519(sk.verifying_key());
        let dept = ActorId::new("dept-market").unwrap();
        let reg = KeyRegistration::new(&pk, dept.clone(), None);
        let key = reg.key.clone();
        let mut r = KeyRegistry::new();
        r.apply(&registry_event(
            KEY_REGISTERED,
            reg.to_payload(),
            "2026-01-01T00:00:00Z",
            0,
        ))
        .unwrap();

        let ev = crate::event::tests_support::sample_signed(&sk, &key, "dept-market");
        let before = Timestamp::parse("2025-12-31T00:00:00Z").unwrap();
        let during = Timestamp::parse("2026-06-01T00:00:00Z").unwrap();
        assert!(matches!(
            r.verify_author(&ev, &before),
            Err(Error::KeyNotYetValid { .. })
        ));
        r.verify_author(&ev, &during).unwrap();

        let mut forged = ev.clone();
        forged.payload.insert("x".into(), Value::Bool(true));
        assert!(matches!(
            r.verify_author(&forged, &during),
            Err(Error::BadSignature { .. })
        ));

        let other_dept = crate::event::tests_support::sample_signed(&sk, &key, "dept-tax");
        assert!(matches!(
            r.verify_author(&other_dept, &during),
            Err(Error::KeyDepartmentMismatch { .. })
        ));

        let rev = KeyRevocation {
            key: key.clone(),
            reason: None,
        };
        r.apply(&registry_event(
            KEY_REVOKED,
            rev.to_payload(),
            "2026-07-01T00:00:00Z",
            1,
        ))
        .unwrap();
        assert!(matches!(
            r.verify_author(&ev, &during),
            Err(Error::KeyRevoked { .. })
        ));
    }

    #[test]
    fn registration_must_match_derived_id() {
        let pk = PublicKey::Ed25519(SigningKey::from_bytes(&[1u8; 32]).verifying_key());
        let other = PublicKey::Ed25519(SigningKey::from_bytes(&[2u8; 32]).verifying_key());
        let mut reg = KeyRegistration::new(&pk, ActorId::new("d").unwrap(), None);
        reg.key = KeyId::derive(&other);
        let ev = registry_event(KEY_REGISTERED, reg.to_payload(), "2026-01-01T00:00:00Z", 0);
        let err = KeyRegistry::new()
            .check(&ev.proposed(), &ev.recorded_at)
            .unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[test]
    fn unknown_key_is_refused() {
        let sk = SigningKey::from_bytes(&[9u8; 32]);
        let key = KeyId::derive(&PublicKey::Ed25519(sk.verifying_key()));
        let ev = crate::event::tests_support::sample_signed(&sk, &key, "dept-market");
        assert!(matches!(
            KeyRegistry::new().verify_author(&ev, &Timestamp::now()),
            Err(Error::UnknownKey { .. })
        ));
    }

    #[test]
    fn key_ids_are_checked() {
        assert!(KeyId::new("ed25519:0123456789abcdef").is_ok());
        for bad in [
            "ed25519:0123",
            "rsa:0123456789abcdef",
            "0123456789abcdef",
            "ed25519:0123456789ABCDEF",
        ] {
            assert!(KeyId::new(bad).is_err(), "{bad}");
        }
    }

    /// The workspace builds curve25519-dalek's AVX-512 IFMA backend in
    /// (`.cargo/config.toml`); a build without it verifies more slowly on a
    /// CPU that has IFMA (figures in ARCHITECTURE.md).
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_ifma_backend_is_built_in_and_chosen_where_the_cpu_has_it() {
        let ifma = std::arch::is_x86_feature_detected!("avx512ifma")
            && std::arch::is_x86_feature_detected!("avx512vl");
        let expected = if ifma {
            "avx512ifma"
        } else if std::arch::is_x86_feature_detected!("avx2") {
            "avx2"
        } else {
            "portable"
        };
        assert_eq!(
            ed25519_backend(),
            expected,
            "built without --cfg curve25519_dalek_backend=\"avx512\"? (.cargo/config.toml; an explicit RUSTFLAGS replaces it)"
        );
        if !ifma {
            eprintln!(
                "NOTE: this CPU has no AVX-512 IFMA; signatures are verified with {expected}"
            );
        }
    }
}
