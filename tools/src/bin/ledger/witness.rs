//! `ledger witness`: a C2SP tlog-witness for other logs (or this one).
//!
//! `DIR/witness.key` holds the Ed25519 seed (base64, mode 0600, created on
//! first start); `DIR/witness-state.json` the latest checkpoint cosigned per
//! log. The logs it trusts are given by their signed-note verifier keys.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use api::witness::{Witness, witness_router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Args;
use ed25519_dalek::SigningKey;
use ledger::cosignature::Cosigner;
use ledger::note::NoteVerifier;

#[derive(Args, Debug)]
pub struct WitnessArgs {
    /// Directory for the witness key and state.
    #[arg(long, env = "LEDGER_WITNESS_DATA", default_value = "./witness")]
    data: PathBuf,
    /// The witness's name (its key name), e.g. supervision.example/witness.
    #[arg(long, env = "LEDGER_WITNESS_NAME")]
    name: String,
    /// A log to witness: its signed-note verifier key. Repeatable.
    #[arg(
        long = "log",
        env = "LEDGER_WITNESS_LOGS",
        value_delimiter = ',',
        required = true
    )]
    logs: Vec<String>,
    /// Address to listen on (port 0 picks one).
    #[arg(long, env = "LEDGER_WITNESS_LISTEN", default_value = "127.0.0.1:8081")]
    listen: String,
}

pub async fn run(args: WitnessArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating {}", args.data.display()))?;
    let key = load_or_create_key(&args.data.join("witness.key"))?;
    let cosigner = Cosigner::new(&args.name, key)?;
    let logs = args
        .logs
        .iter()
        .map(|k| NoteVerifier::from_verifier_key_string(k.trim()))
        .collect::<Result<Vec<_>, _>>()
        .context("--log must be a signed-note verifier key")?;
    let vkey = cosigner.verifier().to_verifier_key_string();
    let witness = Witness::new(cosigner, logs, Some(args.data.join("witness-state.json")))?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    println!("witness key:    {vkey}");
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    axum::serve(listener, witness_router(Arc::new(witness)))
        .with_graceful_shutdown(async {
            use tokio::signal::unix::{SignalKind, signal};
            if let Ok(mut term) = signal(SignalKind::terminate()) {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            } else {
                let _ = tokio::signal::ctrl_c().await;
            }
        })
        .await?;
    Ok(ExitCode::SUCCESS)
}

fn load_or_create_key(path: &Path) -> anyhow::Result<SigningKey> {
    if path.exists() {
        let mode = std::fs::metadata(path)?.permissions().mode();
        anyhow::ensure!(
            mode & 0o077 == 0,
            "{} is readable by others (mode {:o}); it must be 0600",
            path.display(),
            mode & 0o777
        );
        let text = std::fs::read_to_string(path)?;
        let seed: [u8; 32] = BASE64
            .decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .with_context(|| format!("{} is not a base64 32-byte seed", path.display()))?;
        return Ok(SigningKey::from_bytes(&seed));
    }
    let key = SigningKey::generate(&mut rand::rng());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(f, "{}", BASE64.encode(key.to_bytes()))?;
    f.sync_all()?;
    Ok(key)
}
