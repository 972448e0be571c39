//! Author-signature checks shared by concurrent appends, batched.
//!
//! Each append checks its own events' signatures, but one append usually
//! carries one event, and Ed25519 batch verification only pays off with many
//! signatures at once. [`SignatureBatcher`] runs one thread per core; each
//! takes every check waiting (up to [`BATCH`] signatures), verifies them as one
//! batch with [`crate::keys::verify_signatures`] (strict semantics: the same
//! answers as one-by-one checks), and answers each append. Under light load a
//! batch is a single signature, so nothing waits for company.
//!
//! Deliberately no key lookups here: the caller resolves keys against the
//! registry and hands over the public key with each message.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::error::Error;
use crate::event::PreparedEvent;
use crate::ids::EventId;
use crate::keys::{KeyRegistry, PublicKey, SignatureCheck};

/// Most signatures verified as one batch. Every append waits for its
/// batch, so a batch is also a latency: with 256 appenders on 2 cores,
/// batches of 32 sustained 38–46k signed appends/s, of 16 about 42k, of 64
/// about 36k (`LEDGER_BENCH_PROFILE=signed cargo bench -p ledger --bench
/// core`), the batch equation costing a little more per signature the
/// smaller the batch.
pub const BATCH: usize = 32;

/// How long a thread holding some checks waits for more before it starts
/// verifying (far below an fsync, which every append waits for).
const GATHER: std::time::Duration = std::time::Duration::from_micros(100);

/// One signature an append needs checked.
#[derive(Clone, Debug)]
pub struct PendingSignature {
    pub key: PublicKey,
    pub msg: Vec<u8>,
    pub sig: Vec<u8>,
}

/// The author signatures an append carries, each with its key resolved.
pub struct AuthorSignatures {
    items: Vec<PendingSignature>,
    owners: Vec<EventId>,
}

impl AuthorSignatures {
    /// Resolves the key of each signed event in `registry`; a key it lacks
    /// is [`Error::UnknownKey`]. Key *status* (validity, revocation,
    /// department) is not checked here: a sequencer checks it at the moment
    /// of sequencing.
    pub fn resolve(registry: &KeyRegistry, events: &[PreparedEvent]) -> Result<Self, Error> {
        let mut items = Vec::new();
        let mut owners = Vec::new();
        for ev in events {
            if let Some(sig) = &ev.event.signature {
                let rec = registry.get(&sig.key).ok_or_else(|| Error::UnknownKey {
                    key: sig.key.clone(),
                })?;
                items.push(PendingSignature {
                    key: rec.public_key.clone(),
                    msg: ev.signing_bytes(),
                    sig: sig.sig.0.clone(),
                });
                owners.push(ev.event.id);
            }
        }
        Ok(AuthorSignatures { items, owners })
    }

    /// No event of the append is signed.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

struct Job {
    items: Vec<PendingSignature>,
    reply: oneshot::Sender<Vec<bool>>,
}

/// A pool of verification threads fed through one queue.
pub struct SignatureBatcher {
    queue: Mutex<Option<std_mpsc::Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl SignatureBatcher {
    /// Starts `threads` verification threads (at least one).
    pub fn start(threads: usize) -> Result<Self, Error> {
        let (tx, rx) = std_mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut handles = Vec::new();
        for n in 0..threads.max(1) {
            let rx = rx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("ledger-sigcheck-{n}"))
                .spawn(move || work(&rx))
                .map_err(Error::storage)?;
            handles.push(handle);
        }
        Ok(SignatureBatcher {
            queue: Mutex::new(Some(tx)),
            threads: Mutex::new(handles),
        })
    }

    /// One thread per available core but one, which is left to the
    /// sequencer: it is the one serial stage of an append, and signature
    /// checks beside it on every core would slow every append down.
    pub fn per_core() -> Result<Self, Error> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::start(cores.saturating_sub(1).max(1))
    }

    /// Whether each signature is valid, in order.
    pub async fn verify(&self, items: Vec<PendingSignature>) -> Result<Vec<bool>, Error> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        {
            let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let Some(tx) = queue.as_ref() else {
                return Err(Error::Closed);
            };
            tx.send(Job { items, reply }).map_err(|_| Error::Closed)?;
        }
        answer.await.map_err(|_| Error::Closed)
    }
}

impl SignatureBatcher {
    /// Verifies an append's author signatures, batched with concurrent
    /// appends; [`Error::BadSignature`] names the first that fails.
    pub async fn verify_authors(&self, signatures: AuthorSignatures) -> Result<(), Error> {
        let AuthorSignatures { items, owners } = signatures;
        let verdicts = self.verify(items).await?;
        match verdicts.iter().position(|ok| !ok) {
            Some(k) => Err(Error::BadSignature { id: owners[k] }),
            None => Ok(()),
        }
    }
}

impl Drop for SignatureBatcher {
    fn drop(&mut self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
        let handles = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for h in handles {
            let _ = h.join();
        }
    }
}

fn work(rx: &Mutex<std_mpsc::Receiver<Job>>) {
    loop {
        // Take one job (waiting), then whatever else is queued, up to BATCH.
        let jobs = {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            let Ok(first) = rx.recv() else {
                return;
            };
            let mut count = first.items.len();
            let mut jobs = vec![first];
            // Appends arrive one at a time from the tasks preparing them; a
            // short wait lets a batch fill under load. The wait is bounded
            // in all: under light load nothing comes and it ends after one
            // GATHER; under a trickle it ends at the same deadline.
            let deadline = std::time::Instant::now() + GATHER;
            while count < BATCH {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match rx.recv_timeout(left) {
                    Ok(job) => {
                        count += job.items.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            jobs
        };
        let checks: Vec<SignatureCheck<'_>> = jobs
            .iter()
            .flat_map(|j| j.items.iter())
            .map(|p| SignatureCheck {
                key: &p.key,
                msg: &p.msg,
                sig: &p.sig,
            })
            .collect();
        let mut verdicts = crate::keys::verify_signatures(&checks).into_iter();
        drop(checks);
        for job in jobs {
            let mine: Vec<bool> = verdicts.by_ref().take(job.items.len()).collect();
            let _ = job.reply.send(mine);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn item(seed: u8, msg: &[u8], good: bool) -> PendingSignature {
        let sk = SigningKey::from_bytes(&[seed; 32]);
        let mut sig = sk.sign(msg).to_bytes().to_vec();
        if !good {
            sig[40] ^= 1;
        }
        PendingSignature {
            key: PublicKey::Ed25519(sk.verifying_key()),
            msg: msg.to_vec(),
            sig,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_checks_get_their_own_verdicts() {
        let batcher = Arc::new(SignatureBatcher::start(2).unwrap());
        let mut tasks = Vec::new();
        for n in 0..200u32 {
            let batcher = batcher.clone();
            tasks.push(tokio::spawn(async move {
                // Every seventh append carries one bad signature among good ones.
                let bad = n % 7 == 0;
                let items = vec![
                    item(1, &n.to_be_bytes(), true),
                    item(2, b"second", !bad),
                    item(3, b"third", true),
                ];
                (bad, batcher.verify(items).await.unwrap())
            }));
        }
        for t in tasks {
            let (bad, verdicts) = t.await.unwrap();
            assert_eq!(verdicts, vec![true, !bad, true]);
        }
    }

    /// A signature with R = the identity point and s = H(R‖A‖M)·a satisfies
    /// the cofactorless batch equation, but R has small order, so strict
    /// verification refuses it (RFC 8032 leaves this to the verifier;
    /// ed25519-dalek's `verify_strict` refuses). Mixed into a batch of good
    /// signatures it must still be refused, and the good ones accepted.
    #[test]
    fn small_order_r_is_refused_in_a_batch_as_alone() {
        use curve25519_dalek::scalar::Scalar;
        use sha2::{Digest, Sha512};
        let seed = [5u8; 32];
        let sk = SigningKey::from_bytes(&seed);
        let public = sk.verifying_key();
        let msg = b"forged without a nonce";
        // The secret scalar a: SHA-512 of the seed, first half, clamped
        // (RFC 8032 section 5.1.5).
        let h = Sha512::digest(seed);
        let mut a_bytes = [0u8; 32];
        a_bytes.copy_from_slice(&h[..32]);
        a_bytes[0] &= 248;
        a_bytes[31] &= 127;
        a_bytes[31] |= 64;
        let a = Scalar::from_bytes_mod_order(a_bytes);
        let mut r = [0u8; 32];
        r[0] = 1; // y = 1: the identity point
        let mut k = Sha512::new();
        k.update(r);
        k.update(public.as_bytes());
        k.update(msg);
        let k = Scalar::from_bytes_mod_order_wide(&k.finalize().into());
        let s = k * a;
        let mut sig = r.to_vec();
        sig.extend_from_slice(s.as_bytes());
        let key = PublicKey::Ed25519(public);
        // The forged signature passes the bare batch equation...
        let dalek_sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
        assert!(ed25519_dalek::verify_batch(&[&msg[..]], &[dalek_sig], &[public]).is_ok());
        // ...but not strict verification, alone or in a batch.
        assert!(!key.verify(msg, &sig));
        let good = item(5, b"honest", true);
        let mut checks = vec![
            SignatureCheck {
                key: &good.key,
                msg: &good.msg,
                sig: &good.sig,
            };
            10
        ];
        checks[3] = SignatureCheck {
            key: &key,
            msg,
            sig: &sig,
        };
        let verdicts = crate::keys::verify_signatures(&checks);
        let expected: Vec<bool> = (0..10).map(|i| i != 3).collect();
        assert_eq!(verdicts, expected);
    }
}
