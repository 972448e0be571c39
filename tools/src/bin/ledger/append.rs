//! `ledger append`: a department's events from a JSON or NDJSON file (or
//! stdin), signed with its key file and sent to a server, one atomic batch
//! per stream (at most 1,000 events a request); one receipt printed per
//! event.
//!
//! Safe to re-run: the service treats an event id it already holds with the
//! same content as a retry and answers with the original receipt, so every
//! event must keep its id from one run to the next. An input event without
//! `id` (or `occurred_at`) is given one, and the input file is rewritten
//! with it before anything is sent; input from stdin must carry both. A
//! batch that mixes recorded and new events (the file grew after a failed
//! run) is split: the recorded ones are looked up and compared, the rest
//! sent.
//!
//! Everything is checked before the first request: JSON, event fields,
//! payload schemas of the domain types, entry size. What only the server
//! can judge (the key's registration, the token's department, versions) is
//! judged on the first batch it concerns. This module does not create
//! streams, register keys or retry on its own.

use std::collections::{HashMap, HashSet};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context as _;
use api::routes::events::{AppendResponse, ExpectedState, ExpectedVersionWire};
use api::wire::{EventPage, EventView, ReceiptView};
use clap::Args;
use ed25519_dalek::SigningKey;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ledger::keys::PublicKey;
use ledger::store::MAX_BATCH_EVENTS;
use ledger::{Event, EventId, KeyId, LeafHash, ProposedEvent, StreamId, StreamVersion, Timestamp};
use serde_json::{Map, Value, json};
use tools::client::Client;

/// `ledger append`'s arguments; its help is [`APPEND_HELP`].
#[derive(Args, Debug)]
#[command(after_long_help = APPEND_HELP)]
pub struct AppendArgs {
    /// JSON or NDJSON file of events (`.ndjson`/`.jsonl` are always NDJSON),
    /// or `-` for stdin.
    input: PathBuf,
    /// The department's private key file (from `ledger keygen`).
    #[arg(long, env = "LEDGER_KEY")]
    key: PathBuf,
    /// `actor.department` of events that carry no `actor`.
    #[arg(long, env = "LEDGER_DEPARTMENT")]
    department: Option<String>,
    /// `actor.officer` of events that carry no `actor`.
    #[arg(long)]
    officer: Option<String>,
    /// What each stream must be at before its events: `any`, `no-stream`,
    /// `exists` or a version number (that of the stream's last event).
    #[arg(long, default_value = "any")]
    expect_version: Expectation,
    /// Print each receipt as a JSON object (one a line).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Where the server is and the bearer token to show it.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// The server's root URL, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "LEDGER_SERVER")]
    server: String,
    /// Bearer token.
    #[arg(long, env = "LEDGER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File holding the bearer token (used instead of --token).
    #[arg(long)]
    token_file: Option<PathBuf>,
}

impl ServerArgs {
    /// A client with the token from `--token-file` or else `--token`.
    pub fn client(&self) -> anyhow::Result<Client> {
        let token = match &self.token_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading token {}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            None => self.token.clone(),
        };
        anyhow::ensure!(
            token.as_deref().is_some_and(|t| !t.is_empty()),
            "no token: give --token, --token-file or LEDGER_TOKEN"
        );
        Ok(Client::new(&self.server, token))
    }
}

/// `--expect-version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expectation(pub ExpectedVersionWire);

impl FromStr for Expectation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let wire = match s {
            "any" => ExpectedVersionWire::State(ExpectedState::Any),
            "no-stream" | "no_stream" => ExpectedVersionWire::State(ExpectedState::NoStream),
            "exists" | "stream-exists" | "stream_exists" => {
                ExpectedVersionWire::State(ExpectedState::StreamExists)
            }
            n => ExpectedVersionWire::Exact(n.parse().map_err(|_| {
                format!("{n:?}: expected any, no-stream, exists or a version number")
            })?),
        };
        Ok(Expectation(wire))
    }
}

/// The long help below the options.
const APPEND_HELP: &str = "\
Input: a JSON file (one event or an array), an NDJSON file (one event a
line) or stdin (-). Each event: {\"id\", \"stream\", \"type\", \"occurred_at\",
\"actor\", \"payload\"} as in SPEC.md section 2, without \"signature\": ledger
append signs. \"actor\" may be left out when --department (and --officer)
are given. Events go one atomic batch per stream, streams in input order.

Re-running is safe. Events without \"id\" or \"occurred_at\" are given them
and THE INPUT FILE IS REWRITTEN with them before anything is sent, so a
re-run sends the same events and the service answers with the original
receipts instead of appending them twice (also when the file has grown
since). From stdin every event needs both.

Output: one receipt a line: event id, stream, version, log index, leaf
hash (--json: one JSON object a line).

Exit codes: 0 all appended (or already there); 2 bad input (named by line
or position), a refusal by the server (version conflict with the current
version, unknown or wrong key, schema) or no connection. Nothing of the
refused batch is appended; receipts printed before it stand.

Example: ledger append --server http://127.0.0.1:8080 --token-file dept.token \\
         --key keys/dept-market.key --expect-version no-stream events.ndjson";

pub async fn run(args: AppendArgs) -> anyhow::Result<ExitCode> {
    let key = crate::keygen::read_signing_key(&args.key)?;
    let client = args.server.client()?;
    let mut input = Input::read(&args.input)?;
    let defaults = Defaults {
        department: args.department.clone(),
        officer: args.officer.clone(),
    };
    input.fill_in(&defaults)?;
    let events = input.sign_all(&key)?;
    if input.changed() {
        input.write_back()?;
        eprintln!(
            "{}: ids and times assigned and written back; re-run with this file",
            args.input.display()
        );
    }
    let batches = batches(events, args.expect_version.0);
    let printer = ReceiptPrinter { json: args.json };
    send_batches(&client, batches, |r| printer.print(r)).await?;
    Ok(ExitCode::SUCCESS)
}

/// Events of one stream, sent in one request.
#[derive(Debug)]
pub struct Batch {
    pub stream: StreamId,
    pub expected: ExpectedVersionWire,
    pub events: Vec<ProposedEvent>,
}

/// Groups `events` by stream (streams in order of first appearance, events
/// in input order) into batches of at most 1,000 events and about 3 MiB.
/// `expected` is each stream's expectation; a stream's later batches follow
/// on from its earlier ones (see [`send_batches`]).
pub fn batches(events: Vec<ProposedEvent>, expected: ExpectedVersionWire) -> Vec<Batch> {
    // The service's default body limit is 4 MiB.
    const MAX_BATCH_BYTES: usize = 3 << 20;
    let mut order: Vec<StreamId> = Vec::new();
    let mut by_stream: HashMap<StreamId, Vec<ProposedEvent>> = HashMap::new();
    for ev in events {
        by_stream
            .entry(ev.stream.clone())
            .or_insert_with(|| {
                order.push(ev.stream.clone());
                Vec::new()
            })
            .push(ev);
    }
    let mut out = Vec::new();
    for stream in order {
        let mut current = Vec::new();
        let mut bytes = 0;
        for ev in by_stream.remove(&stream).unwrap_or_default() {
            let size = serde_json::to_vec(&ev).map_or(0, |v| v.len());
            if current.len() == MAX_BATCH_EVENTS
                || (!current.is_empty() && bytes + size > MAX_BATCH_BYTES)
            {
                out.push(Batch {
                    stream: stream.clone(),
                    expected,
                    events: std::mem::take(&mut current),
                });
                bytes = 0;
            }
            bytes += size;
            current.push(ev);
        }
        if !current.is_empty() {
            out.push(Batch {
                stream: stream.clone(),
                expected,
                events: current,
            });
        }
    }
    out
}

/// Sends `batches` in order, calling `emit` with each receipt as it comes;
/// returns how many events the server holds now (appended or already
/// there). A stream's second and later batches expect the version its
/// previous batch ended at (unless the expectation is `any`). Stops at the
/// first refusal, naming it; a version conflict names the stream's current
/// version.
pub async fn send_batches(
    client: &Client,
    batches: Vec<Batch>,
    mut emit: impl FnMut(&ReceiptView),
) -> anyhow::Result<usize> {
    let total: usize = batches.iter().map(|b| b.events.len()).sum();
    let bar = progress(total as u64, "appending");
    let mut last: HashMap<StreamId, u64> = HashMap::new();
    let mut done = 0;
    for mut batch in batches {
        if let Some(v) = last.get(&batch.stream)
            && batch.expected != ExpectedVersionWire::State(ExpectedState::Any)
        {
            batch.expected = ExpectedVersionWire::Exact(*v);
        }
        let receipts = match append_batch(client, &batch).await {
            Ok(receipts) => receipts,
            Err(e) => {
                bar.finish_and_clear();
                return Err(e.context(format!(
                    "nothing of this batch ({} events of {}) was appended; {done} events before it were",
                    batch.events.len(),
                    batch.stream
                )));
            }
        };
        bar.suspend(|| receipts.iter().for_each(&mut emit));
        if let Some(r) = receipts.last() {
            last.insert(batch.stream.clone(), r.version);
        }
        done += receipts.len();
        bar.inc(receipts.len() as u64);
    }
    bar.finish_and_clear();
    Ok(done)
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub fn progress(len: u64, what: &'static str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}

/// One request; a batch the server finds partly recorded is split.
async fn append_batch(client: &Client, batch: &Batch) -> anyhow::Result<Vec<ReceiptView>> {
    let path = format!("/v1/streams/{}/events", batch.stream);
    let body = json!({"expected_version": batch.expected, "events": batch.events});
    match client.post_json::<_, AppendResponse>(&path, &body).await {
        Ok(resp) => Ok(resp.receipts),
        Err(e) if e.problem_kind() == Some("partial-retry") => {
            recover_partial(client, batch, &path).await
        }
        Err(e) if e.problem_kind() == Some("version-conflict") => {
            let current = match current_version(client, &batch.stream).await {
                Some(Some(v)) => format!("current version {v}"),
                Some(None) => "the stream does not exist".to_owned(),
                None => "current version unknown".to_owned(),
            };
            Err(anyhow::Error::new(e).context(format!(
                "version conflict on {}: expected {}, {current}",
                batch.stream,
                describe(batch.expected)
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// The version of `stream`'s last event (`Some(None)`: no such stream), or
/// `None` if the caller may not read it.
async fn current_version(client: &Client, stream: &StreamId) -> Option<Option<u64>> {
    let path = format!("/v1/streams/{stream}/events?direction=backwards&limit=1");
    match client.get_json::<EventPage>(&path).await {
        Ok(page) => Some(
            page.events
                .first()
                .and_then(|e| e.event.get("version").and_then(Value::as_u64)),
        ),
        Err(e) if e.problem_kind() == Some("not-found") => Some(None),
        Err(_) => None,
    }
}

/// The events of `batch` already in the log are compared with what is sent
/// (same content, else an error) and given their original receipts; the
/// others are sent as one batch following on from them.
async fn recover_partial(
    client: &Client,
    batch: &Batch,
    path: &str,
) -> anyhow::Result<Vec<ReceiptView>> {
    let mut receipts: Vec<Option<ReceiptView>> = Vec::with_capacity(batch.events.len());
    let mut fresh = Vec::new();
    for ev in &batch.events {
        match client
            .get_json::<EventView>(&format!("/v1/events/{}", ev.id))
            .await
        {
            Ok(view) => receipts.push(Some(recorded_receipt(ev, &view)?)),
            Err(e) if e.problem_kind() == Some("not-found") => {
                receipts.push(None);
                fresh.push(ev.clone());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let expected = match (
        batch.expected,
        receipts.iter().flatten().map(|r| r.version).max(),
    ) {
        (ExpectedVersionWire::State(ExpectedState::Any), _) | (_, None) => batch.expected,
        (_, Some(v)) => ExpectedVersionWire::Exact(v),
    };
    let body = json!({"expected_version": expected, "events": fresh});
    let mut new = client
        .post_json::<_, AppendResponse>(path, &body)
        .await?
        .receipts
        .into_iter();
    receipts
        .into_iter()
        .map(|r| r.or_else(|| new.next()))
        .collect::<Option<Vec<_>>>()
        .context("the server answered with fewer receipts than events")
}

/// The receipt of `sent` from the log's copy, which must be the same event.
fn recorded_receipt(sent: &ProposedEvent, view: &EventView) -> anyhow::Result<ReceiptView> {
    let mut entry = Vec::new();
    ledger::jcs::write_value(&mut entry, &view.event);
    let recorded = Event::from_entry(&entry).context("the server's copy of an event")?;
    anyhow::ensure!(
        recorded.proposed().content_digest()? == sent.content_digest()?,
        "event {} is already in the log with different content",
        sent.id
    );
    Ok(ReceiptView {
        event_id: recorded.id.to_string(),
        stream: recorded.stream.to_string(),
        version: recorded.version.0,
        log_index: view.log_index,
        leaf_hash: view.leaf_hash.clone(),
    })
}

fn describe(expected: ExpectedVersionWire) -> String {
    match expected {
        ExpectedVersionWire::State(ExpectedState::Any) => "any version".into(),
        ExpectedVersionWire::State(ExpectedState::NoStream) => "no stream".into(),
        ExpectedVersionWire::State(ExpectedState::StreamExists) => "an existing stream".into(),
        ExpectedVersionWire::Exact(v) => format!("version {v}"),
    }
}

/// Prints receipts as lines or JSON.
pub struct ReceiptPrinter {
    pub json: bool,
}

impl ReceiptPrinter {
    pub fn print(&self, r: &ReceiptView) {
        let mut out = std::io::stdout().lock();
        let _ = if self.json {
            writeln!(out, "{}", json!(r))
        } else {
            writeln!(
                out,
                "{} {} version {} log {} leaf {}",
                r.event_id, r.stream, r.version, r.log_index, r.leaf_hash
            )
        };
    }
}

/// `actor` for events without one.
struct Defaults {
    department: Option<String>,
    officer: Option<String>,
}

/// Where an event sits in the input, for messages.
#[derive(Clone, Copy, Debug)]
enum Place {
    /// NDJSON, 1-based.
    Line(usize),
    /// Element of a JSON array, 1-based.
    Element(usize),
    /// The single object of a JSON file.
    Whole,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Line(n) => write!(f, "line {n}"),
            Place::Element(n) => write!(f, "event {n} of the array"),
            Place::Whole => f.write_str("the event"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Ndjson,
    Array,
    Object,
}

struct Item {
    place: Place,
    value: Map<String, Value>,
    changed: bool,
}

/// The events as read, with what is needed to write them back.
struct Input {
    /// `None` for stdin.
    path: Option<PathBuf>,
    name: String,
    layout: Layout,
    text: String,
    items: Vec<Item>,
}

impl Input {
    fn read(path: &Path) -> anyhow::Result<Input> {
        let (file, name, text) = if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading stdin")?;
            (None, "stdin".to_owned(), text)
        } else {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            (Some(path.to_path_buf()), path.display().to_string(), text)
        };
        let ndjson_name = path
            .extension()
            .is_some_and(|e| e == "ndjson" || e == "jsonl");
        let json_name = path.extension().is_some_and(|e| e == "json");
        let whole = match serde_json::from_str::<Value>(&text) {
            _ if ndjson_name => None,
            Ok(v) => Some(v),
            // A `.json` file is one JSON value: name its error rather than
            // read it as NDJSON.
            Err(e) if json_name => return Err(anyhow::Error::new(e).context(name)),
            Err(_) => None,
        };
        let (layout, items) = match whole {
            Some(Value::Object(value)) => (
                Layout::Object,
                vec![Item {
                    place: Place::Whole,
                    value,
                    changed: false,
                }],
            ),
            Some(Value::Array(values)) => {
                let mut items = Vec::with_capacity(values.len());
                for (i, v) in values.into_iter().enumerate() {
                    let place = Place::Element(i + 1);
                    let Value::Object(value) = v else {
                        anyhow::bail!("{name}: {place} is not a JSON object");
                    };
                    items.push(Item {
                        place,
                        value,
                        changed: false,
                    });
                }
                (Layout::Array, items)
            }
            Some(_) => anyhow::bail!("{name}: expected an event object or an array of them"),
            None => (Layout::Ndjson, ndjson_items(&name, &text)?),
        };
        anyhow::ensure!(!items.is_empty(), "{name}: no events");
        Ok(Input {
            path: file,
            name,
            layout,
            text,
            items,
        })
    }

    /// Gives events their missing `id`, `occurred_at` and `actor`; refuses
    /// a `signature`, and missing ids on stdin.
    fn fill_in(&mut self, defaults: &Defaults) -> anyhow::Result<()> {
        let now = Timestamp::now();
        for item in &mut self.items {
            let at = format!("{}: {}", self.name, item.place);
            anyhow::ensure!(
                !item.value.contains_key("signature"),
                "{at}: has a signature; ledger append signs events itself (remove it)"
            );
            if !item.value.contains_key("actor") {
                let department = defaults
                    .department
                    .as_deref()
                    .with_context(|| format!("{at}: no actor; give it one or pass --department"))?;
                let mut actor = json!({ "department": department });
                if let Some(officer) = &defaults.officer {
                    actor["officer"] = json!(officer);
                }
                item.value.insert("actor".into(), actor);
                item.changed = true;
            }
            for (field, value) in [
                ("id", json!(EventId::generate().to_string())),
                ("occurred_at", json!(now.as_str())),
            ] {
                if !item.value.contains_key(field) {
                    anyhow::ensure!(
                        self.path.is_some(),
                        "{at}: no {field}; from stdin every event needs its own id and \
                         occurred_at, so that a re-run sends the same events (a file \
                         given as input gets them written into it)"
                    );
                    item.value.insert(field.into(), value);
                    item.changed = true;
                }
            }
        }
        Ok(())
    }

    fn changed(&self) -> bool {
        self.items.iter().any(|i| i.changed)
    }

    /// Parses, signs and checks every event; nothing is sent if one fails.
    fn sign_all(&self, key: &SigningKey) -> anyhow::Result<Vec<ProposedEvent>> {
        let key_id = KeyId::derive(&PublicKey::Ed25519(key.verifying_key()));
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(self.items.len());
        for item in &self.items {
            let at = format!("{}: {}", self.name, item.place);
            let ev: ProposedEvent = serde_json::from_value(Value::Object(item.value.clone()))
                .with_context(|| format!("{at}: not a valid event"))?;
            anyhow::ensure!(seen.insert(ev.id), "{at}: event id {} given twice", ev.id);
            let ev = ev
                .sign_ed25519(key_id.clone(), key)
                .with_context(|| at.clone())?;
            check_event(&ev).with_context(|| at.clone())?;
            out.push(ev);
        }
        Ok(out)
    }

    /// Rewrites the input file with the filled-in events, atomically.
    fn write_back(&self) -> anyhow::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let text = match self.layout {
            Layout::Object | Layout::Array => {
                let values: Vec<Value> = self
                    .items
                    .iter()
                    .map(|i| Value::Object(i.value.clone()))
                    .collect();
                let whole = if self.layout == Layout::Object {
                    values.into_iter().next().unwrap_or(Value::Null)
                } else {
                    Value::Array(values)
                };
                serde_json::to_string_pretty(&whole)? + "\n"
            }
            Layout::Ndjson => {
                let mut by_line: HashMap<usize, &Item> = HashMap::new();
                for item in &self.items {
                    if let Place::Line(n) = item.place {
                        by_line.insert(n, item);
                    }
                }
                let mut out = String::with_capacity(self.text.len() * 2);
                for (i, line) in self.text.lines().enumerate() {
                    match by_line.get(&(i + 1)) {
                        Some(item) if item.changed => {
                            out.push_str(&serde_json::to_string(&item.value)?)
                        }
                        _ => out.push_str(line),
                    }
                    out.push('\n');
                }
                out
            }
        };
        replace_file(path, &text)
    }
}

fn ndjson_items(name: &str, text: &str) -> anyhow::Result<Vec<Item>> {
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let place = Place::Line(i + 1);
        let value: Value =
            serde_json::from_str(line).with_context(|| format!("{name}: {place}: not JSON"))?;
        let Value::Object(value) = value else {
            anyhow::bail!("{name}: {place}: not a JSON object");
        };
        items.push(Item {
            place,
            value,
            changed: false,
        });
    }
    Ok(items)
}

/// What the service would refuse of `ev` alone: a domain payload that does
/// not fit its schema or stream, an entry over 65,535 bytes.
fn check_event(ev: &ProposedEvent) -> anyhow::Result<()> {
    let event_type = ev.event_type.as_str();
    if projections::schema::label(event_type).is_some() {
        projections::schema::validate_in_stream(
            ev.stream.as_str(),
            event_type,
            &Value::Object(ev.payload.clone()),
        )?;
    }
    // The largest the ledger's own fields can make the entry.
    let version = StreamVersion(ledger::ids::MAX_SAFE_INTEGER);
    ev.seal(version, Timestamp::now(), LeafHash::GENESIS)?;
    Ok(())
}

/// Replaces `path` with `text` by writing a sibling and renaming it over,
/// keeping the file's mode.
fn replace_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing beside {}", path.display()))?;
    tmp.write_all(text.as_bytes())?;
    let mode = std::fs::metadata(path)?.permissions().mode();
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}
