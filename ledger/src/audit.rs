//! `verify_store`: a full audit of a store, driving [`crate::verify::Auditor`].
//!
//! Reads the log chunk by chunk with the tree's stored hashes and the
//! signed checkpoints, and reports the first problem by kind and position.

use crate::error::Error;
use crate::ids::LogIndex;
use crate::merkle::NodeId;
use crate::note::NoteVerifier;
use crate::store::Store;
use crate::verify::{Auditor, Problem, ProblemKind};

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
    loop {
        let from = auditor.size();
        let raws = store.read_entries(LogIndex(from), CHUNK).await?;
        if raws.is_empty() {
            break;
        }
        let last = raws.last().map_or(from, |r| r.index.0);
        // Stored leaves for the span the entries claim.
        let span = (last + 1 - from) as usize;
        let leaf_ids: Vec<NodeId> = (from..from + span as u64)
            .map(|index| NodeId { level: 0, index })
            .collect();
        let stored_leaves = read_optional(store, &leaf_ids).await?;
        let checkpoints = store.checkpoints(from + 1, CHUNK).await?;
        let checkpoints: Vec<_> = checkpoints
            .into_iter()
            .take_while(|c| c.size <= from + raws.len() as u64)
            .collect();
        let entries: Vec<_> = raws.iter().map(|r| (r.index, r.entry.as_slice())).collect();
        let report = auditor.check_chunk(&entries, &stored_leaves, &checkpoints);

        // Stored interior nodes against the ones the entries imply.
        let ids: Vec<NodeId> = report.nodes.iter().map(|(id, _)| *id).collect();
        let stored = read_optional(store, &ids).await?;
        let node_problem = report
            .nodes
            .iter()
            .zip(&stored)
            .find(|((_, want), got)| got.as_ref() != Some(want))
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
