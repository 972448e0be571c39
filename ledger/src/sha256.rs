//! SHA-256 (FIPS 180-4), the hash of the Merkle tree, leaf hashes, links,
//! key ids and note key hashes.
//!
//! Backed by ring's assembly, which picks the CPU's SHA extensions when it
//! has them and AVX2 or SSSE3 code when it does not. Many virtual machines
//! still run on processors without SHA extensions; there the portable code
//! of the `sha2` crate spends 4.5 µs on an 800-byte entry and this 2.4 µs,
//! and hashing was a fifth of `verify_store`'s time.
//!
//! Deliberately not here: SHA-512 (Ed25519's own hash stays inside
//! ed25519-dalek), HMAC, or any choice of hash function: every caller
//! means SHA-256.

/// An incremental SHA-256 computation. Cloning it keeps a midstate: hash
/// a common prefix once, then finish several messages from the clone.
#[derive(Clone)]
pub struct Sha256(ring::digest::Context);

impl Sha256 {
    /// A fresh computation.
    pub fn new() -> Self {
        Sha256(ring::digest::Context::new(&ring::digest::SHA256))
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: impl AsRef<[u8]>) {
        self.0.update(data.as_ref());
    }

    /// Feeds `data`, for chaining: `Sha256::new().chain(a).chain(b)`.
    pub fn chain(mut self, data: impl AsRef<[u8]>) -> Self {
        self.update(data);
        self
    }

    /// The digest of everything fed.
    pub fn finalize(self) -> [u8; 32] {
        let digest = self.0.finish();
        let mut out = [0u8; 32];
        // SHA-256's output is 32 bytes (FIPS 180-4 §6.2.2); ring's digest
        // has exactly the algorithm's output length.
        out.copy_from_slice(digest.as_ref());
        out
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256 { .. }")
    }
}

/// `SHA-256(data)`.
pub fn digest(data: impl AsRef<[u8]>) -> [u8; 32] {
    Sha256::new().chain(data).finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sha2::Digest as _;

    // FIPS 180-4 examples (NIST "Cryptographic Standards and Guidelines:
    // Examples with Intermediate Values", SHA-256): one block, two blocks,
    // and the empty message.
    #[test]
    fn nist_examples() {
        assert_eq!(
            hex::encode(digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex::encode(digest(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            hex::encode(digest(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_million_a() {
        let mut h = Sha256::new();
        for _ in 0..1000 {
            h.update([b'a'; 1000]);
        }
        assert_eq!(
            hex::encode(h.finalize()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    proptest! {
        // Any split of any message, and a midstate cloned mid-way, give
        // what the `sha2` crate gives for the whole message.
        #[test]
        fn agrees_with_sha2_on_any_split(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            cut in any::<prop::sample::Index>(),
            tail in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let at = cut.index(data.len() + 1);
            let mut h = Sha256::new();
            h.update(&data[..at]);
            let midstate = h.clone();
            h.update(&data[at..]);
            prop_assert_eq!(h.finalize(), <[u8; 32]>::from(sha2::Sha256::digest(&data)));
            let mut both = data[..at].to_vec();
            both.extend_from_slice(&tail);
            prop_assert_eq!(
                midstate.chain(&tail).finalize(),
                <[u8; 32]>::from(sha2::Sha256::digest(&both))
            );
        }
    }
}
