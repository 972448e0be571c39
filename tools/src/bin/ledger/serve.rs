//! `ledger serve`: flags, environment and TOML config; start-up; signals.
//!
//! Every setting comes from, in order of precedence: the command-line flag,
//! its `LEDGER_*` environment variable, the TOML file given by `--config`
//! (`LEDGER_CONFIG`), then the default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use api::server::StoreLocation;
use api::{ServeConfig, Service, Settings};
use clap::Args;
use serde::Deserialize;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Data directory (default ./data); initialised on first start.
    #[arg(long, env = "LEDGER_DATA")]
    data: Option<PathBuf>,
    /// Where the log is kept: `embedded` (default; DIR/ledger.sqlite) or a
    /// PostgreSQL database, postgres://user@host:port/database, which several
    /// `ledger serve` processes may share (each with its own --data holding
    /// the same ledger.key).
    #[arg(long, env = "LEDGER_STORE")]
    store: Option<String>,
    /// Address to listen on (default 127.0.0.1:8080; port 0 picks one).
    #[arg(long, env = "LEDGER_LISTEN")]
    listen: Option<String>,
    /// Checkpoint origin on first start (default ledger.localhost/public-service-log).
    #[arg(long, env = "LEDGER_ORIGIN")]
    origin: Option<String>,
    /// Load the demo data set on first start (a city's departments,
    /// catalogue, and months of cases and complaints up to today).
    #[arg(long, env = "LEDGER_DEMO")]
    demo: bool,
    /// How many demo cases (default 10000).
    #[arg(long, env = "LEDGER_DEMO_CASES")]
    demo_cases: Option<usize>,
    /// TOML file with any of these settings (snake_case keys).
    #[arg(long, env = "LEDGER_CONFIG")]
    config: Option<PathBuf>,
    /// Largest request body in bytes (default 4 MiB).
    #[arg(long, env = "LEDGER_BODY_LIMIT")]
    body_limit: Option<usize>,
    /// Request timeout in seconds (default 30).
    #[arg(long, env = "LEDGER_REQUEST_TIMEOUT")]
    request_timeout: Option<u64>,
    /// Requests per second per token; 0 disables (default 2000).
    #[arg(long, env = "LEDGER_RATE_LIMIT")]
    rate_limit: Option<f64>,
    /// Burst size of the per-token rate limit (default 4000).
    #[arg(long, env = "LEDGER_RATE_BURST")]
    rate_burst: Option<f64>,
    /// Log format: `text` (default) or `json`.
    #[arg(long, env = "LEDGER_LOG_FORMAT")]
    log_format: Option<String>,
    /// Seconds between pushes of new checkpoints to witnesses (default 2).
    #[arg(long, env = "LEDGER_WITNESS_INTERVAL")]
    witness_interval: Option<u64>,
    /// Base URL of public links (status page, QR codes), e.g.
    /// https://zwfw.example.gov.cn (default http://{listen address}).
    #[arg(long, env = "LEDGER_PUBLIC_URL")]
    public_url: Option<String>,
}

/// The `--config` file.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data: Option<PathBuf>,
    store: Option<String>,
    listen: Option<String>,
    origin: Option<String>,
    demo: Option<bool>,
    demo_cases: Option<usize>,
    body_limit: Option<usize>,
    request_timeout: Option<u64>,
    rate_limit: Option<f64>,
    rate_burst: Option<f64>,
    log_format: Option<String>,
    witness_interval: Option<u64>,
    public_url: Option<String>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str::<FileConfig>(&text)
                .with_context(|| format!("parsing {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let log_format = args
        .log_format
        .or(file.log_format)
        .unwrap_or_else(|| "text".into());
    init_tracing(&log_format)?;
    let defaults = Settings::default();
    let settings = Settings {
        body_limit: args
            .body_limit
            .or(file.body_limit)
            .unwrap_or(defaults.body_limit),
        request_timeout: args
            .request_timeout
            .or(file.request_timeout)
            .map(Duration::from_secs)
            .unwrap_or(defaults.request_timeout),
        rate_limit: args
            .rate_limit
            .or(file.rate_limit)
            .unwrap_or(defaults.rate_limit),
        rate_burst: args
            .rate_burst
            .or(file.rate_burst)
            .unwrap_or(defaults.rate_burst),
        witness_interval: args
            .witness_interval
            .or(file.witness_interval)
            .map(Duration::from_secs)
            .unwrap_or(defaults.witness_interval),
    };
    let listen: SocketAddr = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()
        .context("--listen must be an address like 127.0.0.1:8080")?;
    let store: StoreLocation = match args.store.or(file.store) {
        Some(s) => s.parse()?,
        None => StoreLocation::Embedded,
    };
    let config = ServeConfig {
        data: args
            .data
            .or(file.data)
            .unwrap_or_else(|| PathBuf::from("./data")),
        store,
        origin: args.origin.or(file.origin),
        demo: args.demo || file.demo.unwrap_or(false),
        demo_cases: args
            .demo_cases
            .or(file.demo_cases)
            .unwrap_or(api::demo::DEFAULT_DEMO_CASES),
        settings,
    };
    let data = config.data.clone();
    let public_url = args.public_url.or(file.public_url);
    if let Some(url) = &public_url {
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "--public-url must start with http:// or https://, not {url:?}"
        );
    }
    // Watched from before "listening on" is printed: a SIGTERM right after
    // it stops the service gracefully rather than by the default action.
    let shutdown = shutdown_signal();
    let service = Service::open(config).await?;
    if let Some(url) = &public_url {
        service.state.set_public_url(url);
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let local = listener.local_addr()?;
    println!("data directory: {}", data.display());
    println!("store:          {}", service.store_description);
    println!("origin:         {}", service.state.origin());
    println!("verifier key:   {}", service.state.verifier_key());
    match &service.new_admin_token {
        Some(token) => println!(
            "admin token:    {token}\n                (shown once; kept in {})",
            service.admin_token_path.display()
        ),
        None => println!("admin token:    in {}", service.admin_token_path.display()),
    }
    println!("listening on http://{local}");
    use std::io::Write as _;
    std::io::stdout().flush()?;
    tracing::info!(%local, "serving");
    api::serve(listener, service.state.clone(), shutdown).await?;
    drop(service.state);
    // Every acknowledged append is already durable; closing lets the writer
    // finish its last group and stop.
    service.store.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The service's log: level by `LEDGER_LOG` (default `info`), to stderr,
/// as text or JSON. `ledger bench` installs the same, so that its HTTP
/// runs pay what `ledger serve` pays per request.
pub fn init_tracing(format: &str) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("LEDGER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        "json" => builder.json().init(),
        "text" => builder.init(),
        other => anyhow::bail!("--log-format must be text or json, not {other:?}"),
    }
    Ok(())
}

/// SIGTERM or Ctrl-C. The handlers are installed when this is called; the
/// future resolves on the first signal.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (term, interrupt) {
            (Ok(mut term), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            (term, interrupt) => {
                if let Err(e) = term.as_ref().and(interrupt.as_ref()) {
                    tracing::warn!("cannot watch SIGTERM/SIGINT ({e}); stopping on Ctrl-C only");
                }
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
