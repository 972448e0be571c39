//! `ledger export case ID` / `ledger export complaint ID`: fetch a stream's
//! evidence from a running server and write one self-contained bundle
//! (`ledger::bundle`, SPEC.md "Evidence bundle").
//!
//! What is fetched: the stream's events (`GET /v1/streams/{stream}/events`),
//! the `registry` stream up to the stream's last event, the latest
//! checkpoint with its witness cosignatures (`GET /checkpoint`), an
//! inclusion proof of every entry against that checkpoint
//! (`GET /v1/proofs/inclusion?log_index=…&tree_size=…`) and the ledger's
//! verifier key (`GET /v1/log`). Entry bytes are the RFC 8785 form of the
//! API's event, checked against its leaf hash; if they disagree, the entry
//! is taken from its C2SP entry bundle (`GET /tile/entries/…`). The bundle
//! is verified against the server's own key before it is written.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use api::routes::transparency::{InclusionProofView, LogInfo};
use api::wire::{EventPage, EventView};
use clap::{Args, Subcommand};
use futures::{StreamExt as _, TryStreamExt as _};
use ledger::bundle::{EvidenceBundle, LogIdentity, ProvenEntry, TrustPolicy, verify_bundle};
use ledger::checkpoint::Checkpoint;
use ledger::merkle::Hash;
use ledger::note::{Note, NoteVerifier};
use ledger::{LeafHash, LogIndex, StreamId};
use tools::client::Client;

/// Proof requests in flight at once.
const CONCURRENT_REQUESTS: usize = 8;
/// Events per page read.
const PAGE: usize = 1000;

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// The evidence bundle of a case (stream `case-ID`).
    ///
    /// Example: ledger export case 2026-000123 --server http://127.0.0.1:8080 --token-file inspector.token -o case.bundle.json
    Case {
        /// The case number, with or without the `case-` prefix.
        id: String,
        #[command(flatten)]
        options: ExportOptions,
    },
    /// The evidence bundle of a complaint (stream `complaint-ID`).
    ///
    /// Example: ledger export complaint demo-0001 --server http://127.0.0.1:8080 --token-file inspector.token
    Complaint {
        /// The complaint number, with or without the `complaint-` prefix.
        id: String,
        #[command(flatten)]
        options: ExportOptions,
    },
}

#[derive(Args, Debug)]
pub struct ExportOptions {
    /// The server's root URL.
    #[arg(long, env = "LEDGER_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Bearer token (an inspector's suffices).
    #[arg(long, env = "LEDGER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A file holding the bearer token.
    #[arg(long, conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// Where to write the bundle (default `<stream>.bundle.json`).
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
    /// Wait until the checkpoint carries at least this many cosignatures
    /// (counted, not verified: verifying is `ledger verify`'s job).
    #[arg(long, default_value_t = 0)]
    cosignatures: usize,
    /// How long to wait for them, in seconds.
    #[arg(long, default_value_t = 30)]
    wait: u64,
}

pub async fn run(what: ExportCommand) -> anyhow::Result<ExitCode> {
    let (stream, options) = match what {
        ExportCommand::Case { id, options } => (stream_name("case-", &id)?, options),
        ExportCommand::Complaint { id, options } => (stream_name("complaint-", &id)?, options),
    };
    let token = match (&options.token, &options.token_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        (None, None) => None,
    };
    let client = Client::new(&options.server, token);
    let info: LogInfo = client.get_json("/v1/log").await?;
    let log_key = NoteVerifier::from_verifier_key_string(&info.verifier_key)
        .context("the server's verifier key")?;

    let events = read_stream(&client, &stream, None).await?;
    let Some(last) = events.last().map(|e| e.log_index) else {
        bail!("stream {stream} has no events");
    };
    let registry = read_stream(&client, &StreamId::registry(), Some(last)).await?;
    let (note, size) = checkpoint_covering(&client, &log_key, last, &options).await?;

    let total = (registry.len() + events.len()) as u64;
    let bar = crate::verify::progress_bar(total, "proving entries");
    let prove = |view: &EventView| {
        let (client, bar) = (&client, &bar);
        let view = view.clone();
        async move {
            let entry = prove_entry(client, view, size).await;
            bar.inc(1);
            entry
        }
    };
    let registry: Vec<ProvenEntry> = futures::stream::iter(registry.iter().map(prove))
        .buffered(CONCURRENT_REQUESTS)
        .try_collect()
        .await?;
    let proven: Vec<ProvenEntry> = futures::stream::iter(events.iter().map(prove))
        .buffered(CONCURRENT_REQUESTS)
        .try_collect()
        .await?;
    bar.finish_and_clear();

    let bundle = EvidenceBundle::assemble(
        stream.clone(),
        LogIdentity {
            origin: info.origin.clone(),
            verifier_key: info.verifier_key.clone(),
        },
        &note,
        &registry,
        &proven,
    )?;
    let own_key = TrustPolicy {
        log_key,
        witnesses: Vec::new(),
        witnesses_required: 0,
    };
    let report = match verify_bundle(&bundle, &own_key) {
        Ok(report) => report,
        Err(problem) => {
            println!("✗ the server's evidence does not verify under its own key: {problem}");
            return Ok(ExitCode::from(1));
        }
    };
    let out = options
        .out
        .unwrap_or_else(|| PathBuf::from(format!("{stream}.bundle.json")));
    write_atomically(&out, &bundle.to_json())?;
    let cosignatures = cosignature_count(&note, &own_key.log_key);
    println!(
        "✓ {}: {} events of {stream}, {} registry events, proven in the checkpoint of size {} ({} cosignature{}), written",
        out.display(),
        report.steps.len(),
        report.registry_events,
        report.tree_size,
        cosignatures,
        if cosignatures == 1 { "" } else { "s" },
    );
    Ok(ExitCode::SUCCESS)
}

/// `prefix + id` unless `id` already has the prefix.
fn stream_name(prefix: &str, id: &str) -> anyhow::Result<StreamId> {
    let name = if id.starts_with(prefix) {
        id.to_owned()
    } else {
        format!("{prefix}{id}")
    };
    StreamId::new(&name).with_context(|| format!("{id:?} is not a valid id"))
}

/// A stream's events in order; with `until`, only those before that log index.
async fn read_stream(
    client: &Client,
    stream: &StreamId,
    until: Option<u64>,
) -> anyhow::Result<Vec<EventView>> {
    let mut out = Vec::new();
    let mut from = 0u64;
    loop {
        let page: EventPage = client
            .get_json(&format!(
                "/v1/streams/{stream}/events?from={from}&limit={PAGE}"
            ))
            .await?;
        for view in page.events {
            if until.is_some_and(|u| view.log_index >= u) {
                return Ok(out);
            }
            out.push(view);
        }
        match page.next {
            Some(next) => from = next,
            None => return Ok(out),
        }
    }
}

/// The latest checkpoint once it covers log index `last` (and carries the
/// cosignatures asked for): its note bytes and tree size.
async fn checkpoint_covering(
    client: &Client,
    log_key: &NoteVerifier,
    last: u64,
    options: &ExportOptions,
) -> anyhow::Result<(Vec<u8>, u64)> {
    let deadline = Instant::now() + Duration::from_secs(options.wait);
    let mut signed_afresh = false;
    loop {
        let note = client.get_bytes("/checkpoint").await?.to_vec();
        let (checkpoint, _) = Checkpoint::verify_note(&note, log_key)
            .context("the server's checkpoint does not verify under its own key")?;
        if checkpoint.size <= last {
            if signed_afresh && Instant::now() >= deadline {
                bail!(
                    "no checkpoint covers log index {last} after {} s",
                    options.wait
                );
            }
            if signed_afresh {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            // Asking for a proof of the last entry makes the server sign a
            // checkpoint that covers it.
            let _: InclusionProofView = client
                .get_json(&format!("/v1/proofs/inclusion?log_index={last}"))
                .await?;
            signed_afresh = true;
            continue;
        }
        let found = cosignature_count(&note, log_key);
        if found >= options.cosignatures {
            return Ok((note, checkpoint.size));
        }
        if Instant::now() >= deadline {
            bail!(
                "the checkpoint carries {found} cosignatures after {} s; {} asked for",
                options.wait,
                options.cosignatures
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Signature lines on a checkpoint other than the log's own.
fn cosignature_count(note: &[u8], log_key: &NoteVerifier) -> usize {
    Note::parse(note).map_or(0, |n| {
        n.signatures
            .iter()
            .filter(|s| !(s.name == log_key.name() && s.key_hash == log_key.key_hash()))
            .count()
    })
}

/// One entry's bytes and audit path in the tree of `size`.
async fn prove_entry(client: &Client, view: EventView, size: u64) -> anyhow::Result<ProvenEntry> {
    let index = view.log_index;
    let proof: InclusionProofView = client
        .get_json(&format!(
            "/v1/proofs/inclusion?log_index={index}&tree_size={size}"
        ))
        .await?;
    let hashes = proof
        .hashes
        .iter()
        .map(|h| Hash::from_hex(h).with_context(|| format!("proof of {index}: bad hash {h:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut entry = Vec::new();
    ledger::jcs::write_value(&mut entry, &view.event);
    if LeafHash::of_entry(&entry).to_hex() != view.leaf_hash {
        entry = entry_from_tiles(client, index, size).await?;
    }
    Ok(ProvenEntry {
        index: LogIndex(index),
        entry,
        hashes,
    })
}

/// Entry `index` as its C2SP tlog-tiles entry bundle holds it.
async fn entry_from_tiles(client: &Client, index: u64, size: u64) -> anyhow::Result<Vec<u8>> {
    let width = ledger::tiles::TILE_WIDTH;
    let bundle = ledger::tiles::entry_bundle_for(index / width, size)
        .with_context(|| format!("no entry bundle holds log index {index}"))?;
    let bytes = client.get_bytes(&format!("/{}", bundle.path())).await?;
    let entries = ledger::tiles::decode_entry_bundle(&bytes)?;
    entries
        .into_iter()
        .nth((index % width) as usize)
        .with_context(|| format!("entry bundle {} lacks log index {index}", bundle.path()))
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    // A bundle is evidence to hand over, not a secret (entries and proofs
    // are public): readable by all, unlike the temporary file's 0600.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
