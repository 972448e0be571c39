//! `ledger bench`: append load over HTTP beside the in-process rate of the
//! same store, in the same run.
//!
//! For each client count, `clients` tasks append one signed event per
//! request to their own case stream, a fixed number each: first straight
//! into a `SqliteStore` (the in-process ceiling), then through `ledger
//! serve`'s router on 127.0.0.1 (a department token, JSON, the real `serve`
//! function). Both use fresh data directories of their own. Events are
//! signed, and request bodies written, before the clock starts: the load
//! generator shares the machine with the server and should not spend it
//! on what real clients do on their own machines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use api::{ServeConfig, Service, Settings};
use clap::Args;
use ed25519_dalek::SigningKey;
use ledger::keys::{KEY_REGISTERED, KeyRegistration, PublicKey};
use ledger::store::sqlite::SqliteConfig;
use ledger::{
    Actor, ActorId, AppendRequest, EventType, ExpectedVersion, KeyId, ProposedEvent, Store,
    StreamId, Timestamp,
};
use serde_json::json;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Concurrent clients per run, comma-separated.
    #[arg(long, default_value = "1,16,64,256", value_delimiter = ',')]
    clients: Vec<usize>,
    /// Events each client appends per run.
    #[arg(long, default_value_t = 200)]
    per_client: usize,
    /// Most events in one run (fewer per client when there are many).
    #[arg(long, default_value_t = 20_000)]
    max_events: usize,
}

struct Run {
    events: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&mut self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
}

struct Signer {
    department: ActorId,
    key: KeyId,
    signing: SigningKey,
}

impl Signer {
    fn new() -> anyhow::Result<Self> {
        let signing = SigningKey::generate(&mut rand::rng());
        Ok(Signer {
            department: ActorId::new("dept-bench")?,
            key: KeyId::derive(&PublicKey::Ed25519(signing.verifying_key())),
            signing,
        })
    }

    fn event(&self, stream: &StreamId, n: u64) -> anyhow::Result<ProposedEvent> {
        let payload = json!({
            "item": "企业设立登记",
            "channel": "window",
            "step": n,
            "note": "材料齐全，当场受理。Materials complete; accepted at the window.",
        });
        Ok(ProposedEvent::new(
            stream.clone(),
            EventType::new("case.step")?,
            Timestamp::now(),
            Actor {
                department: self.department.clone(),
                officer: Some(ActorId::new("officer-1")?),
            },
            payload.as_object().cloned().unwrap_or_default(),
        )
        .sign_ed25519(self.key.clone(), &self.signing)?)
    }

    fn registration(&self) -> ProposedEvent {
        let reg = KeyRegistration::new(
            &PublicKey::Ed25519(self.signing.verifying_key()),
            self.department.clone(),
            None,
        );
        ProposedEvent::new(
            StreamId::registry(),
            // Invariant: a constant that satisfies the event type rules.
            EventType::new(KEY_REGISTERED).expect("valid constant"),
            Timestamp::now(),
            Actor {
                department: ActorId::new("ledger-admin").expect("valid constant"),
                officer: None,
            },
            reg.to_payload(),
        )
    }
}

/// Runs one task per entry of `work`, each calling `append` on its items
/// in order, one at a time; times the whole and each call.
async fn drive<T, F, Fut>(work: Vec<Vec<T>>, append: F) -> anyhow::Result<Run>
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let append = Arc::new(append);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for items in work {
        let append = append.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(items.len());
            for item in items {
                let t = Instant::now();
                append(item).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed();
    Ok(Run {
        events: latencies.len() as u64,
        elapsed,
        latencies,
    })
}

/// `per_client` signed events for each client's own case stream.
fn signed_work(
    signer: &Signer,
    clients: usize,
    per_client: usize,
) -> anyhow::Result<Vec<Vec<ProposedEvent>>> {
    (0..clients)
        .map(|c| {
            let stream = StreamId::new(&format!("case-bench-{c}"))?;
            (0..per_client as u64)
                .map(|n| signer.event(&stream, n))
                .collect()
        })
        .collect()
}

pub async fn run(args: BenchArgs) -> anyhow::Result<std::process::ExitCode> {
    println!(
        "appends of one signed event per request; up to {} events per client, {} per run",
        args.per_client, args.max_events
    );
    println!(
        "{:>8} {:>14} {:>12} {:>7} {:>9} {:>9} {:>12} {:>8} {:>7} {:>9} {:>9}",
        "clients",
        "in-process/s",
        "HTTP/1.1/s",
        "ratio",
        "p50",
        "p99",
        "in-proc p99",
        "h2c/s",
        "ratio",
        "h2c p50",
        "h2c p99"
    );
    for &clients in &args.clients {
        let signer = Arc::new(Signer::new()?);
        let per_client = args.per_client.min(args.max_events / clients.max(1)).max(1);

        // In process: the store itself.
        let dir = tempfile::tempdir()?;
        let data = ledger::datadir::DataDir::open_or_init(dir.path(), None)?;
        let store = data.open_store(SqliteConfig::default())?;
        let shared: Arc<dyn Store> = Arc::new(store.clone());
        shared
            .append(AppendRequest {
                stream: StreamId::registry(),
                expected: ExpectedVersion::Any,
                events: vec![signer.registration()],
            })
            .await?;
        let st = shared.clone();
        let mut local = drive(signed_work(&signer, clients, per_client)?, move |ev| {
            let st = st.clone();
            async move {
                st.append(AppendRequest {
                    stream: ev.stream.clone(),
                    expected: ExpectedVersion::Any,
                    events: vec![ev],
                })
                .await?;
                Ok(())
            }
        })
        .await?;
        store.close();

        // Over HTTP: the real service on loopback.
        let dir = tempfile::tempdir()?;
        let service = Service::open(ServeConfig {
            data: dir.path().join("data"),
            store: Default::default(),
            origin: None,
            demo: false,
            demo_cases: api::demo::DEFAULT_DEMO_CASES,
            settings: Settings {
                rate_limit: 0.0,
                ..Settings::default()
            },
        })
        .await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        // The server gets a runtime of its own, as it would in its own
        // process: client tasks do not queue behind server tasks.
        let server_rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("bench-server")
            .build()?;
        let listener = {
            let _guard = server_rt.enter();
            tokio::net::TcpListener::from_std(listener.into_std()?)?
        };
        let server = server_rt.spawn(api::serve(listener, service.state.clone(), async move {
            let _ = stop_rx.await;
        }));
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(clients.max(1))
            .build()?;
        let admin = service
            .new_admin_token
            .clone()
            .context("a fresh data directory has a new admin token")?;
        let token = setup_department(&client, &base, &admin, &signer).await?;
        let mut http = http_run(&client, &base, &token, &signer, clients, per_client).await?;
        // HTTP/2 without TLS (h2c, prior knowledge): the same requests
        // multiplexed on one connection, so many answers share a write.
        let h2 = reqwest::Client::builder().http2_prior_knowledge().build()?;
        let mut http2 = http_run(&h2, &base, &token, &signer, clients, per_client).await?;
        let _ = stop_tx.send(());
        server.await??;
        server_rt.shutdown_background();
        service.store.close().await;

        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
        println!(
            "{:>8} {:>14.0} {:>12.0} {:>6.0}% {:>9} {:>9} {:>12} {:>8.0} {:>6.0}% {:>9} {:>9}",
            clients,
            local.rate(),
            http.rate(),
            100.0 * http.rate() / local.rate().max(1e-9),
            ms(http.percentile(0.50)),
            ms(http.percentile(0.99)),
            ms(local.percentile(0.99)),
            http2.rate(),
            100.0 * http2.rate() / local.rate().max(1e-9),
            ms(http2.percentile(0.50)),
            ms(http2.percentile(0.99)),
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// `clients` tasks appending `per_client` pre-signed events each through
/// `client`, one request per event.
async fn http_run(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    signer: &Signer,
    clients: usize,
    per_client: usize,
) -> anyhow::Result<Run> {
    let requests = signed_work(signer, clients, per_client)?
        .into_iter()
        .map(|events| {
            events
                .into_iter()
                .map(|ev| {
                    let url = format!("{base}/v1/streams/{}/events", ev.stream);
                    let body = serde_json::to_vec(&json!({"events": [ev]}))?;
                    anyhow::Ok((url, body))
                })
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (cl, tk) = (client.clone(), token.to_owned());
    drive(requests, move |(url, body): (String, Vec<u8>)| {
        let (cl, tk) = (cl.clone(), tk.clone());
        async move {
            let res = cl
                .post(url)
                .bearer_auth(&tk)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await?;
            anyhow::ensure!(res.status() == 200, "append answered {}", res.status());
            Ok(())
        }
    })
    .await
}

/// Registers the bench department and its key, and issues its token.
async fn setup_department(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    signer: &Signer,
) -> anyhow::Result<String> {
    let post = async |path: &str, body: serde_json::Value| -> anyhow::Result<serde_json::Value> {
        let res = client
            .post(format!("{base}{path}"))
            .bearer_auth(admin)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(res.status() == 201, "{path} answered {}", res.status());
        Ok(res.json().await?)
    };
    post(
        "/v1/admin/departments",
        json!({"department": "dept-bench", "name": "bench"}),
    )
    .await?;
    post(
        "/v1/admin/keys",
        json!({"department": "dept-bench",
               "public_key": PublicKey::Ed25519(signer.signing.verifying_key()).to_base64()}),
    )
    .await?;
    let token = post(
        "/v1/admin/tokens",
        json!({"role": "department", "department": "dept-bench", "subject": "bench"}),
    )
    .await?;
    token["token"]
        .as_str()
        .map(str::to_owned)
        .context("token in the answer")
}
