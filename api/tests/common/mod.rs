//! A real service on 127.0.0.1:0 (the real `serve` function on a real data
//! directory), and an HTTP client with helpers.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use api::{ServeConfig, Service, Settings};
use ed25519_dalek::SigningKey;
use ledger::keys::PublicKey;
use ledger::{Actor, ActorId, EventType, KeyId, ProposedEvent, Store, StreamId, Timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub struct TestService {
    pub base: String,
    pub admin: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub state: api::AppState,
    sqlite: api::server::LedgerStore,
    settings: Settings,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// Demo cases loaded by a test service started with the demo (few enough
/// that the whole log fits one 256-entry tile).
pub const DEMO_TEST_CASES: usize = 12;

pub fn test_settings() -> Settings {
    Settings {
        body_limit: 256 * 1024,
        request_timeout: Duration::from_secs(20),
        rate_limit: 0.0,
        rate_burst: 0.0,
        witness_interval: Duration::from_millis(100),
    }
}

impl TestService {
    pub async fn start() -> Self {
        Self::start_with(test_settings(), false).await
    }

    pub async fn start_with(settings: Settings, demo: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::open_in(dir, settings, demo, None).await
    }

    /// Stops the service, closes its store, and starts it again on the same
    /// data directory.
    pub async fn restart(self) -> Self {
        self.stop_keeping_data().await.start_again().await
    }

    /// The service's data directory.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("data")
    }

    /// Stops the service and closes its store, keeping the data directory
    /// for [`Stopped::start_again`] (files may be changed in between).
    pub async fn stop_keeping_data(mut self) -> Stopped {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.expect("join").expect("served");
        }
        self.sqlite.close().await;
        let TestService {
            admin,
            settings,
            _dir,
            ..
        } = self;
        Stopped {
            dir: _dir,
            admin,
            settings,
        }
    }

    async fn open_in(
        dir: tempfile::TempDir,
        settings: Settings,
        demo: bool,
        admin: Option<String>,
    ) -> Self {
        let service = Service::open(ServeConfig {
            data: dir.path().join("data"),
            store: Default::default(),
            origin: Some("test.example/ledger".into()),
            demo,
            demo_cases: DEMO_TEST_CASES,
            settings: settings.clone(),
        })
        .await
        .expect("service opens");
        let admin = match admin {
            Some(a) => {
                assert!(service.new_admin_token.is_none(), "the token is reused");
                a
            }
            None => service.new_admin_token.clone().expect("first start"),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = service.state.clone();
        let server = tokio::spawn(api::serve(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        let store: Arc<dyn Store> = service.store.shared();
        TestService {
            base,
            admin,
            client: reqwest::Client::new(),
            store,
            state,
            sqlite: service.store.clone(),
            settings,
            shutdown: Some(tx),
            server: Some(server),
            _dir: dir,
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.expect("join").expect("served");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Reply::of(req.send().await.expect("request")).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Reply::of(req.send().await.expect("request")).await
    }

    pub async fn size(&self) -> u64 {
        self.store.size().await.expect("size")
    }

    /// Registers `department`, a key for it, and issues a department token.
    pub async fn department(&self, department: &str) -> Department {
        let r = self
            .post(
                "/v1/admin/departments",
                Some(&self.admin),
                &json!({"department": department, "name": format!("{department} bureau")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let signing = SigningKey::generate(&mut rand::rng());
        let public = PublicKey::Ed25519(signing.verifying_key());
        let r = self
            .post(
                "/v1/admin/keys",
                Some(&self.admin),
                &json!({"department": department, "public_key": public.to_base64()}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let key = KeyId::derive(&public);
        assert_eq!(r.body["key"], key.to_string());
        let token = self
            .token("department", department, &format!("{department}-officer"))
            .await;
        Department {
            name: department.to_owned(),
            token,
            signing,
            key,
        }
    }

    /// Issues a token; returns the token.
    pub async fn token(&self, role: &str, department: &str, subject: &str) -> String {
        let r = self
            .post(
                "/v1/admin/tokens",
                Some(&self.admin),
                &json!({"role": role, "department": department, "subject": subject}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["token"].as_str().expect("token").to_owned()
    }
}

/// A stopped service's data directory.
pub struct Stopped {
    pub dir: tempfile::TempDir,
    admin: String,
    settings: Settings,
}

impl Stopped {
    pub async fn start_again(self) -> TestService {
        TestService::open_in(self.dir, self.settings, false, Some(self.admin)).await
    }
}

pub struct Department {
    pub name: String,
    pub token: String,
    pub signing: SigningKey,
    pub key: KeyId,
}

impl Department {
    /// A signed event of this department in `stream`.
    pub fn event(&self, stream: &str, event_type: &str, payload: Value) -> Value {
        let ev = unsigned(stream, event_type, &self.name, payload)
            .sign_ed25519(self.key.clone(), &self.signing)
            .expect("signable");
        serde_json::to_value(ev).expect("serialises")
    }
}

/// An unsigned proposed event.
pub fn unsigned(stream: &str, event_type: &str, department: &str, payload: Value) -> ProposedEvent {
    ProposedEvent::new(
        StreamId::new(stream).expect("stream"),
        EventType::new(event_type).expect("type"),
        Timestamp::now(),
        Actor {
            department: ActorId::new(department).expect("department"),
            officer: Some(ActorId::new("officer-1").expect("officer")),
        },
        payload.as_object().cloned().unwrap_or_default(),
    )
}

pub fn unsigned_json(stream: &str, event_type: &str, department: &str, payload: Value) -> Value {
    serde_json::to_value(unsigned(stream, event_type, department, payload)).expect("serialises")
}

pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub async fn of(res: reqwest::Response) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = res.bytes().await.expect("body").to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            content_type,
            headers,
            body,
            bytes,
        }
    }

    /// Asserts an RFC 9457 problem of `status` and kind `slug`.
    pub fn assert_problem(&self, status: u16, slug: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("urn:ledger:problem:{slug}"),
            "{}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].is_string());
        assert!(self.body["detail"].is_string());
    }
}
