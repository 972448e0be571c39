//! An outside monitor of a C2SP tlog-tiles log (<https://c2sp.org/tlog-tiles>):
//! it audits a live server through its public endpoints only, trusting
//! nothing but the log's verifier key (and, if asked, witness keys).
//!
//! One run ([`Monitor::check`]):
//! 1. `GET /checkpoint`: the log's signature and, if required, enough
//!    witness cosignatures (C2SP tlog-cosignature).
//! 2. With the state of an earlier run: a consistency proof from the
//!    checkpoint verified then to the new one, computed from the log's hash
//!    tiles ([`ledger::merkle::consistency_proof`]) and verified
//!    ([`ledger::merkle::verify_consistency`]). A log that shrank, changed
//!    its root at the same size, or whose tiles do not prove the extension
//!    is reported as a [`MonitorError::Fork`].
//! 3. Every entry bundle and level-0 hash tile from where the last run
//!    stopped, fed chunk by chunk to [`ledger::verify::Auditor`] (entries,
//!    stream chains, author signatures against the registry the log itself
//!    carries, the tree), with the tree nodes the entries imply compared to
//!    the higher hash tiles; the recomputed root must be the checkpoint's.
//! 4. The [`MonitorState`] to keep: the checkpoint, the tree's right edge,
//!    each stream's head and the registry's entries. Nothing else of the log
//!    is kept, in memory or on disk, so a log of millions of entries is
//!    walked in constant memory per chunk.
//!
//! What it deliberately does not do: read the service's JSON API (a monitor
//! must not depend on the log's own account of itself), keep entries, gossip
//! checkpoints with other monitors, or retry anything but `429 Too Many
//! Requests`. It does not decide exit codes or print; the `ledger monitor`
//! verb does.

use std::cell::RefCell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::future::try_join_all;
use ledger::cosignature::{CosignatureVerifier, verify_cosignature};
use ledger::event::Event;
use ledger::merkle::{Frontier, Hash, HashReader, NodeId, consistency_proof, verify_consistency};
use ledger::note::{Note, NoteVerifier};
use ledger::store::StoredCheckpoint;
use ledger::tiles::{
    TILE_HEIGHT, TILE_WIDTH, decode_entry_bundle, decode_hash_tile, entry_bundle_for, tile_for,
};
use ledger::verify::{Auditor, Problem, ProblemKind, verify_checkpoint};
use ledger::{KeyRegistry, LeafHash, LogIndex, StreamId, StreamVersion};
use serde::{Deserialize, Serialize};

use crate::client::{Client, ClientError};

/// The state file's format version.
pub const STATE_FORMAT: u32 = 1;

/// Entry bundles per chunk handed to the auditor (4,096 entries: enough to
/// keep every core busy with signatures, small enough to prefetch the next).
const CHUNK_BUNDLES: u64 = 16;

/// How often a `429 Too Many Requests` is retried before giving up.
const RATE_LIMIT_RETRIES: u32 = 20;

/// Why a run did not verify the log, or could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// The server could not be read: connection, or an unexpected status.
    #[error("reading {what}: {source}")]
    Fetch {
        what: String,
        #[source]
        source: ClientError,
    },
    /// The state file cannot be read or written, or is not this log's.
    #[error("state file {path}: {detail}")]
    State { path: PathBuf, detail: String },
    /// The checkpoint is not signed by the log's key, or does not parse.
    #[error("bad checkpoint: {detail}")]
    BadCheckpoint { detail: String },
    /// Fewer valid witness cosignatures on the checkpoint than required.
    #[error("the checkpoint carries {found} valid witness cosignatures; {required} required")]
    TooFewCosignatures { found: usize, required: usize },
    /// The log's checkpoint does not extend the one verified before: the
    /// log forked or rewrote its history.
    #[error(
        "FORK: the log no longer extends the checkpoint verified before \
         (size {old_size}, root {old_root}); it now serves size {new_size}, root {new_root}: {detail}"
    )]
    Fork {
        old_size: u64,
        old_root: Hash,
        new_size: u64,
        new_root: Hash,
        detail: String,
    },
    /// A tile or entry bundle the checkpoint covers is missing or is not
    /// what tlog-tiles prescribes; `index` is the first entry it covers.
    #[error("bad tile at log index {index}: {path}: {detail}")]
    BadTile {
        index: u64,
        path: String,
        detail: String,
    },
    /// The first problem the audit found in the entries or the tree.
    #[error("{problem}")]
    Audit { problem: Problem },
    /// The run was stopped before it finished (the runtime shutting down).
    #[error("interrupted: {detail}")]
    Interrupted { detail: String },
}

impl MonitorError {
    /// Whether the log failed verification (as opposed to the monitor
    /// failing to run): exit code 1 rather than 2.
    pub fn is_verification_failure(&self) -> bool {
        !matches!(
            self,
            MonitorError::Fetch { .. }
                | MonitorError::State { .. }
                | MonitorError::Interrupted { .. }
        )
    }
}

/// What the monitor trusts.
#[derive(Clone, Debug)]
pub struct Trust {
    /// The log's signed-note verifier key (its name is the origin).
    pub log_key: NoteVerifier,
    /// Witnesses whose cosignatures count.
    pub witnesses: Vec<CosignatureVerifier>,
    /// How many of `witnesses` must have cosigned the checkpoint.
    pub witnesses_required: usize,
}

/// A tree size and root hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
}

/// What a clean run covered.
#[derive(Clone, Debug)]
pub struct MonitorReport {
    /// The log's origin.
    pub origin: String,
    /// The checkpoint verified by the earlier run, if any.
    pub previous: Option<TreeHead>,
    /// The checkpoint verified now.
    pub current: TreeHead,
    /// Whether a consistency proof from `previous` was computed from the
    /// tiles and verified (false when there was no previous, or it was of
    /// the same size or empty).
    pub consistency_proven: bool,
    /// Entries checked by this run (only those after `previous`).
    pub entries_checked: u64,
    /// Entry bundles and hash tiles downloaded.
    pub tiles_fetched: u64,
    /// Valid cosignatures by the trusted witnesses.
    pub cosignatures: usize,
}

/// What a monitor keeps between runs (JSON): the last checkpoint it
/// verified, and what the audit needs to continue from it.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct MonitorState {
    format: u32,
    /// The log's verifier key the state was verified under.
    log_key: String,
    /// The checkpoint as served (with its cosignatures).
    checkpoint: String,
    size: u64,
    /// Root hash, base64 (as in the checkpoint).
    root: String,
    /// RFC 6962 right edge of the tree: the roots of its perfect subtrees,
    /// largest first, base64.
    right_edge: Vec<String>,
    /// Each stream's head.
    heads: Vec<StreamHead>,
    /// The `registry` stream's entries, base64, in log order: the key
    /// registry is rebuilt from them.
    registry_entries: Vec<String>,
}

/// One stream's last version and that event's leaf hash.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct StreamHead {
    stream: String,
    version: u64,
    /// Hex.
    leaf: String,
}

impl MonitorState {
    /// Reads `path`; `None` if it does not exist.
    pub fn load(path: &Path) -> Result<Option<MonitorState>, MonitorError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(state_error(path, e.to_string())),
        };
        let state: MonitorState = serde_json::from_slice(&bytes)
            .map_err(|e| state_error(path, format!("not a monitor state: {e}")))?;
        if state.format != STATE_FORMAT {
            return Err(state_error(
                path,
                format!(
                    "format {} (this monitor reads {STATE_FORMAT})",
                    state.format
                ),
            ));
        }
        Ok(Some(state))
    }

    /// Replaces `path` atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<(), MonitorError> {
        let bytes =
            serde_json::to_vec(self).map_err(|e| state_error(path, format!("encoding: {e}")))?;
        api::witness::write_atomically(path, &bytes)
            .map_err(|e| state_error(path, format!("writing: {e}")))
    }

    /// The tree size of the checkpoint verified.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The checkpoint verified, as served.
    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// Size and root, checked against the right edge kept with them.
    fn tree_head(&self, path: &Path) -> Result<TreeHead, MonitorError> {
        let root = Hash::from_base64(&self.root)
            .ok_or_else(|| state_error(path, "root is not a base64 hash".into()))?;
        Ok(TreeHead {
            size: self.size,
            root,
        })
    }

    /// An auditor positioned after the checkpoint verified, as it left it.
    fn resume(&self, path: &Path, log_key: NoteVerifier) -> Result<Auditor, MonitorError> {
        let bad = |detail: String| state_error(path, detail);
        let edge = self
            .right_edge
            .iter()
            .map(|h| Hash::from_base64(h).ok_or_else(|| bad(format!("bad right-edge hash {h:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let frontier = Frontier::load(self.size, &RightEdge(edge))
            .map_err(|e| bad(format!("right edge: {e}")))?;
        if frontier.root() != self.tree_head(path)?.root {
            return Err(bad("the right edge does not give the root kept".into()));
        }
        let heads = self
            .heads
            .iter()
            .map(|h| {
                let stream = StreamId::new(&h.stream).map_err(|e| bad(e.to_string()))?;
                let leaf = Hash::from_hex(&h.leaf)
                    .ok_or_else(|| bad(format!("bad leaf hash of stream {}", h.stream)))?;
                Ok((stream, StreamVersion(h.version), LeafHash(leaf)))
            })
            .collect::<Result<Vec<_>, MonitorError>>()?;
        let mut registry = KeyRegistry::new();
        for text in &self.registry_entries {
            let entry = BASE64
                .decode(text)
                .map_err(|e| bad(format!("registry entry: {e}")))?;
            let event =
                Event::from_entry(&entry).map_err(|e| bad(format!("registry entry: {e}")))?;
            registry
                .apply(&event)
                .map_err(|e| bad(format!("registry entry: {e}")))?;
        }
        Ok(Auditor::resume(log_key, frontier, heads, registry))
    }
}

/// An outside monitor of one log.
pub struct Monitor {
    client: Client,
    trust: Trust,
    state_path: PathBuf,
}

impl Monitor {
    /// A monitor of the log served at `client`'s base URL. `state_path`
    /// names the state file in errors (it is read and written by the
    /// caller, see [`MonitorState::load`] and [`MonitorState::save`]).
    pub fn new(client: Client, trust: Trust, state_path: PathBuf) -> Self {
        Monitor {
            client,
            trust,
            state_path,
        }
    }

    /// One run: verifies the log's current checkpoint, its consistency
    /// with `previous`, and every entry after `previous` (all of them
    /// without). `progress` is called with (entries checked, entries to
    /// check) after each chunk. Returns the report and the state to keep;
    /// on error, `previous` is still the state to keep.
    pub async fn check(
        &self,
        previous: Option<&MonitorState>,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<(MonitorReport, MonitorState), MonitorError> {
        let log_key = &self.trust.log_key;
        let note = fetch(&self.client, "/checkpoint", "the checkpoint").await?;
        let cp = verify_checkpoint(&note, log_key)
            .map_err(|p| MonitorError::BadCheckpoint { detail: p.detail })?;
        let cosignatures = self.count_cosignatures(&note)?;
        let current = TreeHead {
            size: cp.size,
            root: Hash(cp.root),
        };
        let mut tiles = TileCache::new(self.client.clone(), current.size);

        let (auditor, previous_head, mut registry_entries) = match previous {
            None => (Auditor::new(log_key.clone()), None, Vec::new()),
            Some(state) => {
                if state.log_key != log_key.to_verifier_key_string() {
                    return Err(state_error(
                        &self.state_path,
                        format!(
                            "it was made for the log key {}, not {}",
                            state.log_key,
                            log_key.to_verifier_key_string()
                        ),
                    ));
                }
                let old = state.tree_head(&self.state_path)?;
                let auditor = state.resume(&self.state_path, log_key.clone())?;
                (auditor, Some(old), state.registry_entries.clone())
            }
        };
        let consistency_proven = match previous_head {
            Some(old) => prove_consistency(old, current, &mut tiles).await?,
            None => false,
        };
        let from = auditor.size();
        let stored = StoredCheckpoint {
            size: current.size,
            root: current.root,
            note: note.to_vec(),
        };
        let auditor = audit_entries(
            auditor,
            &self.client,
            &stored,
            &mut tiles,
            &mut registry_entries,
            progress,
        )
        .await?;
        if auditor.root() != current.root {
            return Err(MonitorError::Audit {
                problem: Problem {
                    kind: ProblemKind::TreeHashMismatch,
                    index: LogIndex(current.size.saturating_sub(1)),
                    detail: format!(
                        "the checkpoint's root is {}, the entries give {}",
                        current.root.to_hex(),
                        auditor.root().to_hex()
                    ),
                },
            });
        }
        let state = MonitorState {
            format: STATE_FORMAT,
            log_key: log_key.to_verifier_key_string(),
            checkpoint: String::from_utf8_lossy(&note).into_owned(),
            size: current.size,
            root: current.root.to_base64(),
            right_edge: auditor
                .frontier()
                .hashes()
                .iter()
                .map(Hash::to_base64)
                .collect(),
            heads: auditor
                .stream_heads()
                .map(|(s, v, h)| StreamHead {
                    stream: s.as_str().to_owned(),
                    version: v.0,
                    leaf: h.0.to_hex(),
                })
                .collect(),
            registry_entries,
        };
        let report = MonitorReport {
            origin: cp.origin,
            previous: previous_head,
            current,
            consistency_proven,
            entries_checked: auditor.size() - from,
            tiles_fetched: tiles.fetched,
            cosignatures,
        };
        Ok((report, state))
    }

    /// Valid cosignatures on the checkpoint by the trusted witnesses (one
    /// per witness at most); an error below the required number.
    fn count_cosignatures(&self, note: &[u8]) -> Result<usize, MonitorError> {
        let parsed = Note::parse(note).map_err(|e| MonitorError::BadCheckpoint {
            detail: e.to_string(),
        })?;
        // C2SP tlog-cosignature: a witness counts once, whatever it signed.
        let found = self
            .trust
            .witnesses
            .iter()
            .filter(|w| {
                parsed
                    .signatures
                    .iter()
                    .any(|s| verify_cosignature(w, &parsed.text, s).is_ok())
            })
            .count();
        if found < self.trust.witnesses_required {
            return Err(MonitorError::TooFewCosignatures {
                found,
                required: self.trust.witnesses_required,
            });
        }
        Ok(found)
    }
}

/// Checks that `current` extends `old`; true if a proof was needed and
/// verified.
async fn prove_consistency(
    old: TreeHead,
    current: TreeHead,
    tiles: &mut TileCache,
) -> Result<bool, MonitorError> {
    let fork = |detail: String| MonitorError::Fork {
        old_size: old.size,
        old_root: old.root,
        new_size: current.size,
        new_root: current.root,
        detail,
    };
    if current.size < old.size {
        return Err(fork("the log shrank".into()));
    }
    if current.size == old.size {
        if current.root != old.root {
            return Err(fork("same size, different root hash".into()));
        }
        return Ok(false);
    }
    if old.size == 0 {
        // RFC 9162 §2.1.4: nothing to prove from the empty tree.
        return Ok(false);
    }
    // `consistency_proof` makes one batched read of the nodes it needs:
    // learn which, fetch their tiles, then compute the proof from them.
    let recorder = Recorder::default();
    let _ = consistency_proof(old.size, current.size, &recorder);
    let ids = recorder.0.into_inner();
    let mut nodes = HashMap::with_capacity(ids.len());
    for id in ids {
        nodes.insert(id, tiles.node(id).await?);
    }
    let proof = consistency_proof(old.size, current.size, &Nodes(nodes))
        .map_err(|e| fork(format!("no consistency proof from its tiles: {e}")))?;
    // RFC 9162 §2.1.4.2.
    verify_consistency(old.size, current.size, &old.root, &current.root, &proof).map_err(|e| {
        fork(format!(
            "the consistency proof computed from its tiles does not verify: {e}"
        ))
    })?;
    Ok(true)
}

/// Feeds every entry from `auditor.size()` to the checkpoint's size to the
/// auditor, chunk by chunk, fetching the next chunk while one is checked.
async fn audit_entries(
    mut auditor: Auditor,
    client: &Client,
    checkpoint: &StoredCheckpoint,
    tiles: &mut TileCache,
    registry_entries: &mut Vec<String>,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<Auditor, MonitorError> {
    let size = checkpoint.size;
    let start = auditor.size();
    if start >= size {
        return Ok(auditor);
    }
    let chunk_entries = CHUNK_BUNDLES * TILE_WIDTH;
    let end_of = |from: u64| ((from / chunk_entries + 1) * chunk_entries).min(size);
    let mut next = Some(fetch_chunk(client, start, end_of(start), size).await?);
    let registry = StreamId::registry();
    while let Some(chunk) = next.take() {
        tiles.fetched += chunk.fetched;
        let (from, to) = (chunk.from, chunk.to);
        let last = to == size;
        let checkpoints = if last {
            vec![checkpoint.clone()]
        } else {
            Vec::new()
        };
        let registry_before = head_of(&auditor, &registry);
        let check = tokio::task::spawn_blocking(move || {
            let entries: Vec<(LogIndex, &[u8])> = chunk
                .entries
                .iter()
                .enumerate()
                .map(|(k, e)| (LogIndex(from + k as u64), e.as_slice()))
                .collect();
            let report = auditor.check_chunk(&entries, &chunk.leaves, &checkpoints);
            (auditor, report, chunk.entries)
        });
        let prefetch = async {
            if last {
                Ok(None)
            } else {
                fetch_chunk(client, to, end_of(to), size).await.map(Some)
            }
        };
        let (checked, fetched) = tokio::join!(check, prefetch);
        let (checked_auditor, report, entries) = match checked {
            Ok(done) => done,
            // A panic in the auditor is a bug: let it surface as one.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                return Err(MonitorError::Interrupted {
                    detail: format!("checking entries {from}..{to}: {e}"),
                });
            }
        };
        auditor = checked_auditor;
        if let Some(problem) = report.problem {
            return Err(MonitorError::Audit { problem });
        }
        tiles.compare_nodes(report.nodes).await?;
        if head_of(&auditor, &registry) != registry_before {
            // The registry changed in this chunk: keep its entries, so a
            // later run can rebuild the key registry.
            for entry in &entries {
                if let Ok(event) = Event::from_entry(entry)
                    && event.stream.is_registry()
                {
                    registry_entries.push(BASE64.encode(entry));
                }
            }
        }
        progress(auditor.size() - start, size - start);
        next = fetched?;
    }
    Ok(auditor)
}

fn head_of(auditor: &Auditor, stream: &StreamId) -> Option<(StreamVersion, LeafHash)> {
    auditor
        .stream_heads()
        .find(|(s, _, _)| *s == stream)
        .map(|(_, v, h)| (v, h))
}

/// Entries `from..to` and their leaf hashes as the log's tiles hold them.
struct Chunk {
    from: u64,
    to: u64,
    entries: Vec<Vec<u8>>,
    leaves: Vec<Option<Hash>>,
    fetched: u64,
}

async fn fetch_chunk(
    client: &Client,
    from: u64,
    to: u64,
    size: u64,
) -> Result<Chunk, MonitorError> {
    let first = from / TILE_WIDTH;
    let last = (to - 1) / TILE_WIDTH;
    let bundles = (first..=last).map(|n| async move {
        // Invariant: `n * 256 < to <= size`, so the tree has entries of it.
        let id = entry_bundle_for(n, size).ok_or_else(|| beyond(n * TILE_WIDTH, size))?;
        let path = format!("/{}", id.path());
        let bytes = fetch_tile(client, &path, n * TILE_WIDTH).await?;
        let entries = decode_entry_bundle(&bytes).map_err(|e| bad_tile(n, &path, e.to_string()))?;
        if entries.len() != usize::from(id.width) {
            return Err(bad_tile(
                n,
                &path,
                format!("{} entries where {} were due", entries.len(), id.width),
            ));
        }
        Ok::<_, MonitorError>(entries)
    });
    let leaf_tiles = (first..=last).map(|n| async move {
        let id = tile_for(0, n, size).ok_or_else(|| beyond(n * TILE_WIDTH, size))?;
        let path = format!("/{}", id.path());
        let bytes = fetch_tile(client, &path, n * TILE_WIDTH).await?;
        let hashes = decode_hash_tile(&bytes).map_err(|e| bad_tile(n, &path, e.to_string()))?;
        if hashes.len() != usize::from(id.width) {
            return Err(bad_tile(
                n,
                &path,
                format!("{} hashes where {} were due", hashes.len(), id.width),
            ));
        }
        Ok::<_, MonitorError>(hashes)
    });
    let (bundles, leaf_tiles) = tokio::try_join!(try_join_all(bundles), try_join_all(leaf_tiles))?;
    let fetched = (bundles.len() + leaf_tiles.len()) as u64;
    let skip = (from - first * TILE_WIDTH) as usize;
    let count = (to - from) as usize;
    let entries = bundles
        .into_iter()
        .flatten()
        .skip(skip)
        .take(count)
        .collect();
    let leaves = leaf_tiles
        .into_iter()
        .flatten()
        .skip(skip)
        .take(count)
        .map(Some)
        .collect();
    Ok(Chunk {
        from,
        to,
        entries,
        leaves,
        fetched,
    })
}

/// Hash tiles above level 0, one per level at a time (the auditor reports
/// nodes in log order, so each tile is fetched once).
struct TileCache {
    client: Client,
    size: u64,
    tiles: HashMap<u8, (u64, Vec<Hash>)>,
    fetched: u64,
}

impl TileCache {
    fn new(client: Client, size: u64) -> Self {
        TileCache {
            client,
            size,
            tiles: HashMap::new(),
            fetched: 0,
        }
    }

    /// Hash tile `index` of tile level `level` for the checkpoint's size.
    async fn tile(&mut self, level: u8, index: u64) -> Result<&[Hash], MonitorError> {
        let first_entry = index
            .checked_mul(TILE_WIDTH)
            .and_then(|i| i.checked_shl(u32::from(level * TILE_HEIGHT)))
            .unwrap_or(u64::MAX);
        let cached = self.tiles.get(&level).is_some_and(|(i, _)| *i == index);
        if !cached {
            let id =
                tile_for(level, index, self.size).ok_or_else(|| beyond(first_entry, self.size))?;
            let path = format!("/{}", id.path());
            let bytes = fetch_tile(&self.client, &path, first_entry).await?;
            self.fetched += 1;
            let bad = |detail: String| MonitorError::BadTile {
                index: first_entry,
                path: path.clone(),
                detail,
            };
            let hashes = decode_hash_tile(&bytes).map_err(|e| bad(e.to_string()))?;
            if hashes.len() != usize::from(id.width) {
                return Err(bad(format!(
                    "{} hashes where {} were due",
                    hashes.len(),
                    id.width
                )));
            }
            self.tiles.insert(level, (index, hashes));
        }
        // Invariant: inserted just above when not cached.
        Ok(self
            .tiles
            .get(&level)
            .map_or(&[][..], |(_, h)| h.as_slice()))
    }

    /// The hash of a complete node: read from its tile, or (for a level
    /// between two tile levels) computed from the tile below it
    /// (tlog-tiles "Merkle Tree": a tile holds the nodes of every eighth level).
    async fn node(&mut self, id: NodeId) -> Result<Hash, MonitorError> {
        let level = id.level / TILE_HEIGHT;
        let rise = u32::from(id.level % TILE_HEIGHT);
        let first = id.index << rise;
        let span = 1usize << rise;
        let hashes = self.tile(level, first / TILE_WIDTH).await?;
        let at = (first % TILE_WIDTH) as usize;
        let below = hashes
            .get(at..at + span)
            .ok_or_else(|| MonitorError::BadTile {
                index: id.index << id.level,
                path: format!("tile/{level}/{}", first / TILE_WIDTH),
                detail: format!(
                    "no hashes for tree node level {} index {}",
                    id.level, id.index
                ),
            })?;
        // The node is the root of the perfect subtree over `below`.
        let mut subtree = Frontier::new();
        let mut created = Vec::new();
        for h in below {
            created.clear();
            subtree.push_into(*h, &mut created);
        }
        Ok(subtree.root())
    }

    /// Compares the complete nodes the entries imply with the hash tiles
    /// that hold them (levels 8, 16, …; lower levels are not in tiles).
    async fn compare_nodes(&mut self, mut nodes: Vec<(NodeId, Hash)>) -> Result<(), MonitorError> {
        nodes.retain(|(id, _)| id.level % TILE_HEIGHT == 0 && id.level > 0);
        nodes.sort_unstable_by_key(|(id, _)| (id.level, id.index));
        for (id, want) in nodes {
            let level = id.level / TILE_HEIGHT;
            let got = self
                .tile(level, id.index / TILE_WIDTH)
                .await?
                .get((id.index % TILE_WIDTH) as usize)
                .copied();
            if got != Some(want) {
                return Err(MonitorError::Audit {
                    problem: Problem {
                        kind: ProblemKind::TreeHashMismatch,
                        index: LogIndex(((id.index + 1) << id.level) - 1),
                        detail: format!(
                            "hash tile level {level} holds {} for tree node level {} index {}, the entries give {}",
                            got.map_or("nothing".to_owned(), |h| h.to_hex()),
                            id.level,
                            id.index,
                            want.to_hex()
                        ),
                    },
                });
            }
        }
        Ok(())
    }
}

/// GET with retries on `429 Too Many Requests` only.
async fn fetch(client: &Client, path: &str, what: &str) -> Result<bytes::Bytes, MonitorError> {
    let mut wait = Duration::from_millis(100);
    let mut tries = 0;
    loop {
        match client.get_bytes(path).await {
            Err(ClientError::Status { status, .. })
                if status == reqwest::StatusCode::TOO_MANY_REQUESTS
                    && tries < RATE_LIMIT_RETRIES =>
            {
                tries += 1;
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            other => {
                return other.map_err(|source| MonitorError::Fetch {
                    what: what.to_owned(),
                    source,
                });
            }
        }
    }
}

/// A tile the checkpoint covers: a `404` is the log failing to serve what
/// it committed to, not a connection problem.
async fn fetch_tile(client: &Client, path: &str, index: u64) -> Result<bytes::Bytes, MonitorError> {
    match fetch(client, path, path).await {
        Err(MonitorError::Fetch {
            source: ClientError::Status { status, .. },
            ..
        }) if status == reqwest::StatusCode::NOT_FOUND => Err(MonitorError::BadTile {
            index,
            path: path.to_owned(),
            detail: "the log does not serve it (404), yet its checkpoint covers it".into(),
        }),
        other => other,
    }
}

fn bad_tile(bundle: u64, path: &str, detail: String) -> MonitorError {
    MonitorError::BadTile {
        index: bundle * TILE_WIDTH,
        path: path.to_owned(),
        detail,
    }
}

fn beyond(index: u64, size: u64) -> MonitorError {
    MonitorError::BadTile {
        index,
        path: String::new(),
        detail: format!("beyond the checkpoint's {size} entries"),
    }
}

fn state_error(path: &Path, detail: String) -> MonitorError {
    MonitorError::State {
        path: path.to_owned(),
        detail,
    }
}

/// Learns which nodes a proof generator reads (answering zeros).
#[derive(Default)]
struct Recorder(RefCell<Vec<NodeId>>);

impl HashReader for Recorder {
    type Error = Infallible;
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Infallible> {
        self.0.borrow_mut().extend_from_slice(ids);
        Ok(vec![Hash([0; 32]); ids.len()])
    }
}

/// Nodes fetched from tiles.
struct Nodes(HashMap<NodeId, Hash>);

impl HashReader for Nodes {
    type Error = String;
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, String> {
        ids.iter()
            .map(|id| {
                self.0.get(id).copied().ok_or_else(|| {
                    format!("node level {} index {} not fetched", id.level, id.index)
                })
            })
            .collect()
    }
}

/// The right edge kept in the state, as [`Frontier::load`] reads it (its
/// one read asks for exactly these nodes, largest first).
struct RightEdge(Vec<Hash>);

impl HashReader for RightEdge {
    type Error = String;
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, String> {
        if ids.len() != self.0.len() {
            return Err(format!(
                "{} right-edge hashes kept, {} needed",
                self.0.len(),
                ids.len()
            ));
        }
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::merkle::{MemoryTree, leaf_hash};

    #[test]
    fn the_right_edge_rebuilds_the_frontier() {
        let mut tree = MemoryTree::new();
        let mut frontier = Frontier::new();
        for i in 0..1000u32 {
            let h = leaf_hash(&i.to_be_bytes());
            tree.push(h);
            frontier.push(h);
        }
        let edge = RightEdge(frontier.hashes().to_vec());
        let loaded = Frontier::load(1000, &edge).expect("loads");
        assert_eq!(loaded.root(), tree.root());
        assert!(Frontier::load(1001, &edge).is_err());
    }

    #[test]
    fn the_recorder_names_the_nodes_a_consistency_proof_needs() {
        let mut tree = MemoryTree::new();
        for i in 0..300u32 {
            tree.push(leaf_hash(&i.to_be_bytes()));
        }
        let recorder = Recorder::default();
        let _ = consistency_proof(100, 300, &recorder);
        let ids = recorder.0.into_inner();
        assert!(!ids.is_empty());
        let nodes = Nodes(
            ids.iter()
                .map(|id| (*id, tree.get(*id).expect("node")))
                .collect(),
        );
        let proof = consistency_proof(100, 300, &nodes).expect("proof");
        let old_root = {
            let mut t = MemoryTree::new();
            for i in 0..100u32 {
                t.push(leaf_hash(&i.to_be_bytes()));
            }
            t.root()
        };
        verify_consistency(100, 300, &old_root, &tree.root(), &proof).expect("verifies");
    }
}
