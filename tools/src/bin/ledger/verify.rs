//! `ledger verify BUNDLE`: an evidence bundle checked offline against the
//! keys the caller trusts; `ledger verify --data DIR`: a full audit of a
//! store on disk (`ledger::audit::verify_store`), with progress.
//!
//! Nothing is fetched: a bundle is trusted only as far as the ledger key,
//! witness keys and cosignature count given here (or in a trust file)
//! allow. The checks themselves are `ledger::bundle`'s.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ledger::Store as _;
use ledger::audit::verify_store;
use ledger::bundle::verify::{BundleReport, TrustPolicy};
use ledger::bundle::{EvidenceBundle, verify_bundle};
use ledger::cosignature::CosignatureVerifier;
use ledger::note::NoteVerifier;
use ledger::store::sqlite::SqliteStore;
use serde::Deserialize;

const TRUST_HELP: &str = "\
Trust file (--trust FILE), TOML:

    # the ledger's C2SP signed-note verifier key (its ledger.pub)
    ledger_key = \"ledger.localhost/public-service-log+1a2b3c4d+AU...\"
    # witnesses' C2SP cosignature verifier keys (type 0x04)
    witness_keys = [\"supervision.example/w1+5e6f7a8b+BK...\"]
    # distinct trusted witnesses that must have cosigned (default: 1 if
    # witness_keys is not empty, else 0)
    witnesses_required = 1

Exit codes: 0 verified; 1 verification found a problem (the first, by kind and
position); 2 usage or input error (unreadable file, malformed key or bundle).";

#[derive(Args, Debug)]
#[command(after_long_help = TRUST_HELP)]
pub struct VerifyArgs {
    /// An evidence bundle (`ledger export`) to verify offline.
    bundle: Option<PathBuf>,
    /// Audit a whole data directory instead (its ledger.pub is the trusted key).
    #[arg(long, env = "LEDGER_DATA")]
    data: Option<PathBuf>,
    /// The ledger's signed-note verifier key, `<origin>+<hash>+<base64>`.
    #[arg(long, value_name = "VKEY")]
    ledger_key: Option<String>,
    /// A trusted witness's cosignature verifier key. Repeatable.
    #[arg(long = "witness-key", value_name = "VKEY")]
    witness_keys: Vec<String>,
    /// Distinct trusted witnesses that must have cosigned the checkpoint
    /// (default: 1 if a witness key is given, else 0).
    #[arg(long, value_name = "N")]
    witnesses_required: Option<usize>,
    /// A TOML trust file instead of the three options above (see below).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["ledger_key", "witness_keys", "witnesses_required"])]
    trust: Option<PathBuf>,
    /// Print the report (or the problem) as JSON.
    #[arg(long)]
    json: bool,
}

/// The trust file's shape.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    ledger_key: String,
    #[serde(default)]
    witness_keys: Vec<String>,
    witnesses_required: Option<usize>,
}

pub async fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    if let Some(bundle) = &args.bundle {
        let policy = trust_policy(&args)?;
        return verify_bundle_file(bundle, &policy, args.json);
    }
    match &args.data {
        Some(data) => audit_data_dir(data).await,
        None => bail!("give a BUNDLE to verify, or --data DIR to audit a store"),
    }
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub fn progress_bar(total: u64, message: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {human_pos}/{human_len} ({per_sec}, {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}

fn trust_policy(args: &VerifyArgs) -> anyhow::Result<TrustPolicy> {
    let (ledger_key, witness_keys, required) = match &args.trust {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let file: TrustFile =
                toml::from_str(&text).with_context(|| format!("trust file {}", path.display()))?;
            (file.ledger_key, file.witness_keys, file.witnesses_required)
        }
        None => {
            let Some(key) = &args.ledger_key else {
                bail!(
                    "give the trusted ledger key (--ledger-key VKEY) or a trust file (--trust FILE)"
                );
            };
            (
                key.clone(),
                args.witness_keys.clone(),
                args.witnesses_required,
            )
        }
    };
    let log_key = NoteVerifier::from_verifier_key_string(ledger_key.trim())
        .context("the ledger key is not a signed-note verifier key")?;
    let witnesses = witness_keys
        .iter()
        .map(|k| {
            CosignatureVerifier::from_verifier_key_string(k.trim())
                .with_context(|| format!("witness key {k:?} is not a cosignature verifier key"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let witnesses_required = required.unwrap_or(usize::from(!witnesses.is_empty()));
    if witnesses_required > witnesses.len() {
        bail!(
            "{witnesses_required} witness cosignatures required, but only {} witness keys trusted",
            witnesses.len()
        );
    }
    Ok(TrustPolicy {
        log_key,
        witnesses,
        witnesses_required,
    })
}

fn verify_bundle_file(path: &Path, policy: &TrustPolicy, json: bool) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let bundle = EvidenceBundle::from_json(&bytes)
        .with_context(|| format!("{} is not an evidence bundle", path.display()))?;
    match verify_bundle(&bundle, policy) {
        Ok(report) => {
            if json {
                let out = serde_json::json!({"verified": true, "report": report});
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print_report(&report, policy);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(problem) => {
            if json {
                let out = serde_json::json!({
                    "verified": false,
                    "problem": {"kind": problem.kind(), "message": problem.to_string()},
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("✗ {} ({})", problem, problem.kind());
            }
            Ok(ExitCode::from(1))
        }
    }
}

fn print_report(report: &BundleReport, policy: &TrustPolicy) {
    println!(
        "Evidence bundle for {}: log {}, checkpoint of {} entries, root {}",
        report.stream, report.origin, report.tree_size, report.root_hash
    );
    println!(
        "✓ checkpoint signed by the trusted ledger key {}",
        policy.log_key.to_verifier_key_string()
    );
    for c in &report.cosignatures {
        let at = c
            .time
            .as_ref()
            .map_or_else(|| c.timestamp.to_string(), |t| t.to_string());
        println!("✓ cosigned by witness {} at {at}", c.witness);
    }
    println!(
        "✓ {} trusted witness cosignature(s), {} required",
        report.cosignatures.len(),
        report.witnesses_required
    );
    println!(
        "✓ {} registry events proven and replayed from version 0",
        report.registry_events
    );
    for k in &report.keys {
        let revoked = match (&k.revoked_at, k.revoked_at_index) {
            (Some(at), Some(i)) => format!(", revoked at {at} (log index {i})"),
            _ => String::new(),
        };
        println!(
            "  key {} of {}: valid from {} (registered at log index {}){revoked}",
            k.key, k.department, k.valid_from, k.registered_at_index
        );
    }
    println!("Timeline:");
    for s in &report.steps {
        let actor = match &s.actor.officer {
            Some(o) => format!("{}/{o}", s.actor.department),
            None => s.actor.department.to_string(),
        };
        let signed = s
            .signed_by
            .as_ref()
            .map_or_else(|| "unsigned".to_owned(), |k| format!("signed by {k}"));
        println!(
            "  ✓ v{:<4} {:<28} {:<32} recorded {}  occurred {}  log index {}  {signed}",
            s.version,
            s.event_type.as_str(),
            actor,
            s.recorded_at,
            s.occurred_at,
            s.log_index
        );
    }
    println!(
        "✓ verified: {} events, each proven in the checkpoint, canonical, chained from version 0, and signed (when signed) by a key valid at its time",
        report.steps.len()
    );
}

async fn audit_data_dir(data: &Path) -> anyhow::Result<ExitCode> {
    let pub_path = data.join("ledger.pub");
    let text = std::fs::read_to_string(&pub_path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", pub_path.display()))?;
    let key = NoteVerifier::from_verifier_key_string(text.trim())?;
    let store = SqliteStore::open_for_audit(&data.join("ledger.sqlite"))?;
    let bar = progress_bar(store.size().await?, "auditing entries");
    let verdict = verify_store(&store, &key, |n| bar.set_position(n)).await?;
    bar.finish_and_clear();
    match verdict {
        Ok(summary) => {
            println!(
                "✓ {} entries, {} checkpoints, {} keys: every entry, link, signature, tree hash and checkpoint verified",
                summary.entries, summary.checkpoints, summary.keys
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(problem) => {
            println!("✗ {problem}");
            Ok(ExitCode::from(1))
        }
    }
}
