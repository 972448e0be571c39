//! `ledger witness`: a C2SP tlog-witness (<https://c2sp.org/tlog-witness>)
//! for other logs (or this one). The checks and the state are
//! [`api::witness::Witness`]'s; this verb runs it in one of two modes:
//!
//! - serving `POST /add-checkpoint` (push: logs submit their checkpoints);
//! - `--pull URL`: fetching the `add-checkpoint` request a ledger would
//!   have sent from `GET /v1/witness/add-checkpoint?old_size=N`, checking
//!   and cosigning it here, and posting the cosignature back to
//!   `POST /v1/witness/cosignatures` (for a witness that can only reach out).
//!
//! `DIR/witness.key` holds the Ed25519 seed (base64, mode 0600, created on
//! first start) unless `--key FILE` names one made by `ledger keygen`;
//! `DIR/witness-state.json` the latest checkpoint cosigned per log,
//! replaced atomically before each cosignature is given. The logs it trusts
//! are given by their signed-note verifier keys.
//!
//! Exit codes: 0 shut down cleanly (serving) or cosigned (`--pull --once`);
//! 1 a checkpoint refused (`--pull --once`; the reason printed); 2 usage,
//! key, state or connection error.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use api::routes::witness::CosignResult;
use api::witness::{Refusal, Witness, parse_add_checkpoint, witness_router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Args;
use ed25519_dalek::SigningKey;
use ledger::checkpoint::Checkpoint;
use ledger::cosignature::Cosigner;
use ledger::note::{Note, NoteVerifier};
use tools::client::{Client, ClientError};

use crate::keygen::read_signing_key;

#[derive(Args, Debug)]
#[command(
    after_help = "Example: ledger witness --name supervision.example/w1 --log \"$(cat data/ledger.pub)\" --listen 0.0.0.0:8081\n\
                  Example (pull): ledger witness --name supervision.example/w1 --key witness.key --log \"$(cat ledger.pub)\" --pull https://ledger.example --token \"$WITNESS_TOKEN\" --once"
)]
pub struct WitnessArgs {
    /// Directory for the witness key and state.
    #[arg(long, env = "LEDGER_WITNESS_DATA", default_value = "./witness")]
    data: PathBuf,
    /// The witness's name (its key name), e.g. supervision.example/witness.
    #[arg(long, env = "LEDGER_WITNESS_NAME")]
    name: String,
    /// The witness's private key file, as `ledger keygen` writes it (one line
    /// of base64: the 32-byte Ed25519 seed; mode 0600). Default:
    /// DIR/witness.key, created on first start.
    #[arg(long, env = "LEDGER_WITNESS_KEY", value_name = "FILE")]
    key: Option<PathBuf>,
    /// A log to witness: its signed-note verifier key. Repeatable.
    #[arg(
        long = "log",
        env = "LEDGER_WITNESS_LOGS",
        value_delimiter = ',',
        required = true
    )]
    logs: Vec<String>,
    /// Address to listen on (port 0 picks one). Not used with --pull.
    #[arg(long, env = "LEDGER_WITNESS_LISTEN", default_value = "127.0.0.1:8081")]
    listen: String,
    /// Pull mode: fetch checkpoints and consistency proofs from the ledger
    /// at URL and post the cosignatures back, instead of serving.
    #[arg(long, value_name = "URL")]
    pull: Option<String>,
    /// The witness token the ledger issued (pull mode).
    #[arg(long, env = "LEDGER_WITNESS_TOKEN", requires = "pull")]
    token: Option<String>,
    /// Pull mode: seconds between pulls.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    interval: u64,
    /// Pull mode: pull once and exit (0 cosigned, 1 refused).
    #[arg(long, requires = "pull")]
    once: bool,
}

pub async fn run(args: WitnessArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating {}", args.data.display()))?;
    let key = match &args.key {
        Some(path) => read_signing_key(path)?,
        None => load_or_create_key(&args.data.join("witness.key"))?,
    };
    let cosigner = Cosigner::new(&args.name, key)?;
    let logs = args
        .logs
        .iter()
        .map(|k| NoteVerifier::from_verifier_key_string(k.trim()))
        .collect::<Result<Vec<_>, _>>()
        .context("--log must be a signed-note verifier key")?;
    let vkey = cosigner.verifier().to_verifier_key_string();
    let state_path = args.data.join("witness-state.json");
    let witness = Witness::new(cosigner, logs, Some(state_path.clone()))
        .with_context(|| format!("reading {}", state_path.display()))?;
    println!("witness key:    {vkey}");
    if let Some(url) = &args.pull {
        return pull(url, args.token.clone(), &witness, &args).await;
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    axum::serve(listener, witness_router(Arc::new(witness)))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    if let Ok(mut term) = signal(SignalKind::terminate()) {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    } else {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// What one pull came to.
enum Pulled {
    Cosigned {
        origin: String,
        size: u64,
        accepted: Vec<String>,
    },
    Refused {
        origin: String,
        size: u64,
        refusal: Refusal,
    },
}

/// Pull mode: once, or every `--interval` until SIGTERM / Ctrl-C.
async fn pull(
    url: &str,
    token: Option<String>,
    witness: &Witness,
    args: &WitnessArgs,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(url, token);
    println!("pulling from {url}");
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let outcome = pull_once(&client, witness).await;
        let refused = match outcome {
            Ok(Pulled::Cosigned {
                origin,
                size,
                accepted,
            }) => {
                println!(
                    "✓ cosigned {origin} size {size}; the log kept the cosignature of {}",
                    accepted.join(", ")
                );
                false
            }
            Ok(Pulled::Refused {
                origin,
                size,
                refusal,
            }) => {
                let known = match witness.cosigned(&origin) {
                    Some((s, root)) => format!(" (last cosigned: size {s}, root {root})"),
                    None => String::new(),
                };
                let line = format!(
                    "✗ REFUSED to cosign {origin} size {size}: {} {}{known}",
                    refusal.status.as_u16(),
                    refusal.body.trim_end()
                );
                println!("{line}");
                eprintln!("{line}");
                true
            }
            Err(e) if args.once => return Err(e),
            Err(e) => {
                eprintln!("warning: pull from {url} failed: {e:#}");
                false
            }
        };
        std::io::stdout().flush()?;
        if args.once {
            return Ok(if refused {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            });
        }
        tokio::select! {
            _ = &mut shutdown => return Ok(ExitCode::SUCCESS),
            _ = tokio::time::sleep(Duration::from_secs(args.interval.max(1))) => {}
        }
    }
}

/// Fetches the log's `add-checkpoint` request from the size this witness
/// last cosigned, checks and cosigns it, and posts the cosignature back.
async fn pull_once(client: &Client, witness: &Witness) -> anyhow::Result<Pulled> {
    // The origin decides which state applies; the public checkpoint names it.
    let latest = client.get_bytes("/checkpoint").await?;
    let note = Note::parse(&latest).context("the log's checkpoint is not a signed note")?;
    let origin = Checkpoint::parse(&note.text)
        .context("the log's checkpoint does not parse")?
        .origin;
    if !witness.knows(&origin) {
        anyhow::bail!(
            "the log at {} is {origin:?}, not a log given by --log",
            client.base()
        );
    }
    let old = witness.cosigned_size(&origin).unwrap_or(0);
    let body = match client
        .get_bytes(&format!("/v1/witness/add-checkpoint?old_size={old}"))
        .await
    {
        Ok(body) => body,
        // The log refuses a size beyond its latest checkpoint: it shrank.
        Err(ClientError::Status { status, detail, .. })
            if status == reqwest::StatusCode::BAD_REQUEST && old > 0 =>
        {
            let size = Checkpoint::parse(&note.text).map_or(0, |c| c.size);
            return Ok(Pulled::Refused {
                origin,
                size,
                refusal: Refusal {
                    status: reqwest::StatusCode::CONFLICT,
                    body: format!(
                        "the log's checkpoint is smaller than size {old}, which this witness cosigned ({detail})"
                    ),
                    content_type: "text/plain; charset=utf-8",
                },
            });
        }
        Err(e) => return Err(e.into()),
    };
    let request = parse_add_checkpoint(&body)
        .map_err(|e| anyhow::anyhow!("the log's add-checkpoint request is malformed: {e}"))?;
    let size = Note::parse(&request.note)
        .ok()
        .and_then(|n| Checkpoint::parse(&n.text).ok())
        .map_or(0, |c| c.size);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match witness.add_checkpoint(&body, now) {
        Ok(lines) => {
            let kept: CosignResult = client
                .post_text(
                    &format!("/v1/witness/cosignatures?size={size}"),
                    lines.into_bytes(),
                )
                .await?;
            Ok(Pulled::Cosigned {
                origin,
                size,
                accepted: kept.accepted,
            })
        }
        Err(refusal) => Ok(Pulled::Refused {
            origin,
            size,
            refusal,
        }),
    }
}

fn load_or_create_key(path: &Path) -> anyhow::Result<SigningKey> {
    if path.exists() {
        return read_signing_key(path);
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
