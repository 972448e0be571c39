//! `verify_store`: a full audit of a store, driving [`crate::verify::Auditor`].
//!
//! Reads the log chunk by chunk with the tree's stored hashes and the
//! signed checkpoints, and reports the first problem by kind and position.

use crate::error::Error;
use crate::ids::LogIndex;
use crate::keys::KeyRegistry;
use crate::merkle::NodeId;
use crate::note::NoteVerifier;
use crate::store::Store;
use crate::verify::{Auditor, PreparedChunk, Problem, ProblemKind};

/// Entries per chunk: enough to keep every core busy with signatures.
const CHUNK: usize = 4_096;

/// What a clean audit covered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditSummary {
    pub entries: u64,
    pub checkpoints: u64,
    pub keys: usize,
}

/// The audit's verdict: clean, or the first problem.
pub type AuditResult = Result<AuditSummary, Problem>;

/// Walks the whole store. The outer error is a failure to read at all; the
/// inner result is the verdict. `progress` is called with entries checked.
pub async fn verify_store<S: Store + ?Sized>(
    store: &S,
    log_key: &NoteVerifier,
    mut progress: impl FnMut(u64) + Send,
) -> Result<AuditResult, Error> {
    let mut auditor = Auditor::new(log_key.clone());
    let latest = store.latest_checkpoint().await?;
    // A pipeline of three stages: while chunk n is applied in log order
    // (one core), chunk n+1 is prepared (parsed, hashed and its signatures
    // checked, on every core) and chunk n+2 is read. Preparing needs only a
    // registry, here the one as of the chunk before n; a key registered in
    // chunk n is simply checked when its chunk is applied
    // (`Auditor::prepare_chunk`).
    let first = read_chunk(store, 0).await?;
    let mut read_ahead = read_chunk(store, first.end()).await?;
    let mut next = prepare(first, auditor.registry().clone()).await?;
    loop {
        let (chunk, prepared) = next;
        if chunk.raws.is_empty() {
            break;
        }
        let snapshot = auditor.registry().clone();
        let apply = tokio::task::spawn_blocking(move || {
            let report = auditor.apply_chunk(prepared, &chunk.leaves, &chunk.checkpoints);
            (auditor, report)
        });
        let after = read_ahead.end();
        let (applied, prepared_next, read_next) = tokio::join!(
            apply,
            prepare(read_ahead, snapshot),
            read_chunk(store, after)
        );
        let (applied_auditor, report) = applied.map_err(Error::storage)?;
        auditor = applied_auditor;

        // Stored interior nodes against the ones the entries imply, read
        // level by level (runs of consecutive nodes are one range read).
        let mut nodes = report.nodes;
        nodes.sort_unstable_by_key(|(id, _)| (id.level, id.index));
        let ids: Vec<NodeId> = nodes.iter().map(|(id, _)| *id).collect();
        let stored = read_optional(store, &ids).await?;
        let node_problem = nodes
            .iter()
            .zip(&stored)
            .filter(|((_, want), got)| got.as_ref() != Some(want))
            .min_by_key(|((id, _), _)| ((id.index + 1) << id.level, id.level))
            .map(|((id, want), got)| Problem {
                kind: ProblemKind::TreeHashMismatch,
                index: LogIndex(((id.index + 1) << id.level) - 1),
                detail: format!(
                    "stored tree node level {} index {} is {}, the entries give {}",
                    id.level,
                    id.index,
                    got.map_or("missing".to_owned(), |h| h.to_hex()),
                    want.to_hex()
                ),
            });
        let problem = match (report.problem, node_problem) {
            (Some(a), Some(b)) => Some(if b.index < a.index { b } else { a }),
            (a, b) => a.or(b),
        };
        if let Some(p) = problem {
            return Ok(Err(p));
        }
        progress(auditor.size());
        next = prepared_next?;
        read_ahead = read_next?;
    }
    if let Err(p) = auditor.finish(latest.as_ref()) {
        return Ok(Err(p));
    }
    Ok(Ok(AuditSummary {
        entries: auditor.size(),
        checkpoints: auditor.checkpoints_checked(),
        keys: auditor.registry().len(),
    }))
}

/// Prepares a chunk (`Auditor::prepare_chunk`) on a blocking thread, from
/// which it fans out over every core.
async fn prepare(chunk: Chunk, registry: KeyRegistry) -> Result<(Chunk, PreparedChunk), Error> {
    tokio::task::spawn_blocking(move || {
        let prepared = {
            let entries: Vec<_> = chunk
                .raws
                .iter()
                .map(|r| (r.index, r.entry.as_slice()))
                .collect();
            Auditor::prepare_chunk(&registry, &entries)
        };
        (chunk, prepared)
    })
    .await
    .map_err(Error::storage)
}

/// One chunk of the log as stored: entries from `from`, the tree's stored
/// leaves for the span they claim, and the checkpoints that end inside it.
struct Chunk {
    /// Where the read started.
    from: u64,
    raws: Vec<crate::store::RawEntry>,
    leaves: Vec<Option<crate::merkle::Hash>>,
    checkpoints: Vec<crate::store::StoredCheckpoint>,
}

impl Chunk {
    /// The index after the chunk's last entry (where the next one starts).
    fn end(&self) -> u64 {
        self.raws.last().map_or(self.from, |r| r.index.0 + 1)
    }
}

async fn read_chunk<S: Store + ?Sized>(store: &S, from: u64) -> Result<Chunk, Error> {
    let raws = store.read_entries(LogIndex(from), CHUNK).await?;
    let Some(last) = raws.last().map(|r| r.index.0) else {
        return Ok(Chunk {
            from,
            raws,
            leaves: Vec::new(),
            checkpoints: Vec::new(),
        });
    };
    let leaf_ids: Vec<NodeId> = (from..=last)
        .map(|index| NodeId { level: 0, index })
        .collect();
    let leaves = read_optional(store, &leaf_ids).await?;
    let checkpoints = store
        .checkpoints(from + 1, CHUNK)
        .await?
        .into_iter()
        .take_while(|c| c.size <= from + raws.len() as u64)
        .collect();
    Ok(Chunk {
        from,
        raws,
        leaves,
        checkpoints,
    })
}

/// Reads hashes one by one where a batch fails, so a missing node shows as
/// `None` rather than failing the audit.
async fn read_optional<S: Store + ?Sized>(
    store: &S,
    ids: &[NodeId],
) -> Result<Vec<Option<crate::merkle::Hash>>, Error> {
    match store.read_hashes(ids).await {
        Ok(hashes) => Ok(hashes.into_iter().map(Some).collect()),
        Err(Error::Storage { .. }) => {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.push(
                    store
                        .read_hashes(std::slice::from_ref(id))
                        .await
                        .ok()
                        .and_then(|v| v.into_iter().next()),
                );
            }
            Ok(out)
        }
        Err(e) => Err(e),
    }
}
