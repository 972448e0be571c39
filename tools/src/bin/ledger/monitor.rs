//! `ledger monitor URL`: audits a live server through its public C2SP
//! tlog-tiles endpoints, as an outside monitor (the logic is
//! [`tools::monitor`]); keeps what it verified in a state file and proves
//! the next checkpoint consistent with it.
//!
//! Exit codes: 0 verified; 1 the log failed verification (a fork or
//! rewrite, a bad checkpoint, too few cosignatures, or an entry, chain,
//! signature or tile problem, named with its log index); 2 usage, state
//! file or connection error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ledger::cosignature::CosignatureVerifier;
use ledger::note::NoteVerifier;
use tools::client::Client;
use tools::monitor::{Monitor, MonitorError, MonitorReport, MonitorState, Trust};

/// Audit a live server through its public tiles, as an outside monitor.
///
/// Verifies the checkpoint's signature (and witness cosignatures if asked),
/// downloads every entry bundle and hash tile, checks every entry (canonical
/// form, stream chain, author signature against the log's own key registry)
/// and recomputes the tree. With --state, the next run proves the new
/// checkpoint consistent with the one kept and fetches only new entries; a
/// fork or rewrite is reported loudly (exit 1).
#[derive(Args, Debug)]
#[command(
    after_help = "Example: ledger monitor http://127.0.0.1:8080 --log-key-file data/ledger.pub --state monitor.json\n\
                  Example: ledger monitor https://ledger.example --log-key \"$(cat ledger.pub)\" --witness \"$(cat w1.vkey)\" --follow 60 --state monitor.json"
)]
pub struct MonitorArgs {
    /// The log's base URL (serving /checkpoint and /tile/…).
    url: String,
    /// The log's signed-note verifier key (`<origin>+<hash>+<key>`).
    #[arg(long, env = "LEDGER_LOG_KEY", conflicts_with = "log_key_file")]
    log_key: Option<String>,
    /// A file holding the log's verifier key (e.g. a data directory's ledger.pub).
    #[arg(long, value_name = "FILE")]
    log_key_file: Option<PathBuf>,
    /// A trusted witness's cosignature verifier key. Repeatable.
    #[arg(long = "witness", value_name = "VKEY")]
    witnesses: Vec<String>,
    /// How many of the --witness keys must have cosigned the checkpoint
    /// (default: all of them).
    #[arg(long, value_name = "N")]
    witnesses_required: Option<usize>,
    /// The state file: the last checkpoint verified and what is needed to
    /// continue from it (written atomically). Without it every run audits
    /// the whole log and keeps nothing.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Run once and exit (the default).
    #[arg(long, conflicts_with = "follow")]
    once: bool,
    /// Keep monitoring: run again every SECONDS until interrupted.
    #[arg(long, value_name = "SECONDS")]
    follow: Option<u64>,
}

pub async fn run(args: MonitorArgs) -> anyhow::Result<ExitCode> {
    let log_key_text = match (&args.log_key, &args.log_key_file) {
        (Some(k), None) => k.trim().to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_owned(),
        _ => anyhow::bail!("give the log's verifier key: --log-key VKEY or --log-key-file FILE"),
    };
    let log_key = NoteVerifier::from_verifier_key_string(&log_key_text)
        .context("the log key is not a signed-note verifier key")?;
    let witnesses = args
        .witnesses
        .iter()
        .map(|w| {
            CosignatureVerifier::from_verifier_key_string(w.trim())
                .with_context(|| format!("--witness {w:?} is not a cosignature verifier key"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let witnesses_required = args.witnesses_required.unwrap_or(witnesses.len());
    anyhow::ensure!(
        witnesses_required <= witnesses.len(),
        "--witnesses-required {witnesses_required} but only {} --witness keys given",
        witnesses.len()
    );
    let state_path = args.state.clone();
    let monitor = Monitor::new(
        Client::new(&args.url, None),
        Trust {
            log_key,
            witnesses,
            witnesses_required,
        },
        state_path.clone().unwrap_or_default(),
    );
    let mut state = match &state_path {
        Some(p) => MonitorState::load(p)?,
        None => None,
    };
    loop {
        let bar = progress_bar();
        let mut on_progress = |done: u64, total: u64| {
            bar.set_length(total);
            bar.set_position(done);
        };
        let outcome = monitor.check(state.as_ref(), &mut on_progress).await;
        bar.finish_and_clear();
        match outcome {
            Ok((report, next)) => {
                print_report(&args.url, &report);
                if let Some(path) = &state_path {
                    next.save(path)?;
                    println!("state:        saved to {}", path.display());
                }
                state = Some(next);
            }
            Err(e) if e.is_verification_failure() => {
                let line = format!("✗ {e}");
                println!("{line}");
                eprintln!("{line}");
                if let MonitorError::Fork { .. } = e {
                    eprintln!(
                        "✗ the log at {} is NOT the log verified before; the state file is left as it was",
                        args.url
                    );
                }
                return Ok(ExitCode::from(1));
            }
            // A connection problem while following: report and try again.
            Err(e @ MonitorError::Fetch { .. }) if args.follow.is_some() => {
                eprintln!("warning: {e}; retrying");
            }
            Err(e) => return Err(e.into()),
        }
        match args.follow {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs.max(1))).await,
            None => return Ok(ExitCode::SUCCESS),
        }
    }
}

fn print_report(url: &str, r: &MonitorReport) {
    println!("log:          {} ({url})", r.origin);
    let cosigned = if r.cosignatures > 0 {
        format!(", {} witness cosignatures", r.cosignatures)
    } else {
        String::new()
    };
    println!(
        "checkpoint:   ✓ size {}, root {}: signed by the log key{cosigned}",
        r.current.size,
        r.current.root.to_base64()
    );
    match r.previous {
        Some(old) if r.consistency_proven => println!(
            "consistency:  ✓ extends the checkpoint verified before (size {}, root {}), proven from the tiles",
            old.size,
            old.root.to_base64()
        ),
        Some(old) => println!(
            "consistency:  ✓ same as the checkpoint verified before (size {})",
            old.size
        ),
        None => println!("consistency:  (no earlier checkpoint kept)"),
    }
    let from = r.current.size - r.entries_checked;
    println!(
        "entries:      ✓ {} new entries checked ({from}..{}): hashes, chains, signatures, tiles ({} fetched)",
        r.entries_checked, r.current.size, r.tiles_fetched
    );
    println!("tree:         ✓ recomputed root equals the checkpoint's");
}

/// Entries checked; drawn on stderr, hidden when it is not a terminal.
fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} monitor {pos}/{len} entries {per_sec} {eta}")
    {
        bar.set_style(style);
    }
    bar
}
