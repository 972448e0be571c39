//! `ledger catalog import`: service items from a government spreadsheet
//! into the `catalog` stream.
//!
//! Every row is checked before anything is sent ([`tools::catalog`]); a
//! file with bad rows imports nothing unless `--skip-bad-rows`. The items
//! are compared with the catalogue as the server holds it, so a re-run
//! publishes nothing twice: new items are published (`catalog.item_published`,
//! version 1), changed ones revised (`catalog.item_revised`, next version),
//! identical ones left alone. The events go in one atomic batch (per 1,000
//! items) expecting the `catalog` stream at the version that was read, so
//! two imports at once cannot both publish an item.
//!
//! The service accepts catalogue events from an administrator's token only;
//! it does not require them signed, but signs them if `--key` is given (a
//! key registered to `--department`). Withdrawing items is not this verb's
//! business.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use api::routes::events::{ExpectedState, ExpectedVersionWire};
use api::wire::EventPage;
use clap::{Args, Subcommand};
use ledger::keys::PublicKey;
use ledger::{Actor, ActorId, Event, EventType, KeyId, ProposedEvent, StreamId, Timestamp};
use projections::catalogue::Catalogue;
use projections::schema::CATALOG_STREAM;
use serde_json::json;
use tools::catalog::{Change, Departments, Headers, PlannedItem, Sheet, parse_sheet, plan_import};
use tools::client::Client;

use crate::append::{ReceiptPrinter, ServerArgs, batches, send_batches};

#[derive(Subcommand, Debug)]
pub enum CatalogCommand {
    /// Import service items from a spreadsheet (.xlsx, .xls, .ods, .csv).
    ///
    /// Example: ledger catalog import items.xlsx --server http://127.0.0.1:8080 --token-file admin.token --department dept-zwfw
    Import(ImportArgs),
}

/// `ledger catalog import`'s arguments; its help is [`IMPORT_HELP`].
#[derive(Args, Debug)]
#[command(after_long_help = IMPORT_HELP)]
pub struct ImportArgs {
    /// The spreadsheet: .xlsx, .xlsm, .xls, .ods or UTF-8 .csv.
    file: PathBuf,
    /// The sheet to read (default: the first).
    #[arg(long)]
    sheet: Option<String>,
    /// Column names in a TOML file: `"事项名称" = "Name in the file"` lines.
    #[arg(long, value_name = "FILE.toml")]
    headers: Option<PathBuf>,
    /// One column name: `--header 事项名称=Name` (repeatable; after --headers).
    #[arg(long = "header", value_name = "STANDARD=ACTUAL")]
    header: Vec<String>,
    /// Import the good rows of a file with bad ones (which are reported).
    #[arg(long)]
    skip_bad_rows: bool,
    /// Check and compare with the catalogue; show what would be sent, send
    /// nothing.
    #[arg(long)]
    dry_run: bool,
    /// `actor.department` of the catalogue events (the catalogue's keeper).
    #[arg(long, env = "LEDGER_DEPARTMENT")]
    department: String,
    /// `actor.officer` of the catalogue events.
    #[arg(long)]
    officer: Option<String>,
    /// Sign the events with this private key file (registered to
    /// --department).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Print receipts (and with --dry-run the events) as JSON lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// The long help below the options.
const IMPORT_HELP: &str = "\
The sheet: one header row (title rows above it are skipped), one item a
row. Columns, by their standard headers (a note in brackets after a header
is ignored, e.g. 办理时限（工作日）):
  事项编码  item id (letters, digits, - _ .)     事项名称  name
  事项类别  category                            受理单位  department id or registered name
  审批机构  approving body                      办理依据  legal basis, one a line
  办理时限  working days (20 or 20个工作日)      申请材料  materials, one a line
  办理流程  steps, one a line or a→b→c           审核层级  review layers, 0-10
  办理渠道  窗口、网上办理、自助办理、委托代办、邮寄、上门办理
  收费项目, 收费标准, 收费依据  optional: fee names, amounts in yuan, basis
Every row is checked first; each bad row is reported by its row number as
the spreadsheet shows it, the column and why (a missing or non-number
办理时限, a catch-all material such as 其他材料, an unknown department, ...).
A file with bad rows imports nothing unless --skip-bad-rows.

Re-running is safe: items already in the catalogue as they are are left
alone, changed ones published as their next version (catalog.item_revised).

Needs an administrator's token. Exit codes: 0 imported (or nothing to do);
2 bad rows, a bad file, a refusal by the server or no connection.

Example: ledger catalog import tools/samples/catalog.xlsx --dry-run \\
         --server http://127.0.0.1:8080 --token-file data/admin.token --department dept-zwfw";

pub async fn run(action: CatalogCommand) -> anyhow::Result<ExitCode> {
    match action {
        CatalogCommand::Import(args) => import(args).await,
    }
}

async fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let mut headers = match &args.headers {
        Some(path) => Headers::from_toml(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )?,
        None => Headers::default(),
    };
    for mapping in &args.header {
        let (standard, actual) = mapping
            .split_once('=')
            .with_context(|| format!("--header {mapping:?}: expected STANDARD=ACTUAL"))?;
        headers.rename(standard, actual)?;
    }
    let actor = Actor {
        department: ActorId::new(&args.department).context("--department")?,
        officer: args
            .officer
            .as_deref()
            .map(ActorId::new)
            .transpose()
            .context("--officer")?,
    };
    let key = args
        .key
        .as_deref()
        .map(crate::keygen::read_signing_key)
        .transpose()?;
    let sheet = Sheet::open(&args.file, args.sheet.as_deref())?;
    let client = args.server.client()?;

    let mut departments = Departments::default();
    for ev in read_stream(&client, StreamId::REGISTRY).await? {
        departments.apply(ev.event_type.as_str(), &ev.payload);
    }
    let catalog_events = read_stream(&client, CATALOG_STREAM).await?;
    let catalog_version = catalog_events.last().map(|e| e.version.0);
    let catalogue = Catalogue::fold(&catalog_events);

    let name = args.file.display();
    let parsed = parse_sheet(&sheet, &headers, &departments)?;
    for problem in &parsed.problems {
        eprintln!("{name}: {problem}");
    }
    if !parsed.problems.is_empty() {
        anyhow::ensure!(
            args.skip_bad_rows,
            "{name}: {} row(s) cannot be imported; nothing imported \
             (fix them, or --skip-bad-rows to import the {} good row(s))",
            parsed.bad_rows(),
            parsed.items.len()
        );
        eprintln!(
            "{name}: skipping {} bad row(s); importing the {} good one(s)",
            parsed.bad_rows(),
            parsed.items.len()
        );
    }

    let plan = plan_import(&parsed.items, &catalogue);
    let printer = ReceiptPrinter { json: args.json };
    let mut events = Vec::new();
    let now = Timestamp::now();
    for planned in &plan {
        if !args.json || !args.dry_run {
            println!("{}", describe(planned, args.dry_run));
        }
        let Some(event_type) = planned.event_type() else {
            continue;
        };
        let mut ev = ProposedEvent::new(
            StreamId::new(CATALOG_STREAM)?,
            EventType::new(event_type)?,
            now.clone(),
            actor.clone(),
            planned.payload(),
        );
        if let Some(key) = &key {
            let id = KeyId::derive(&PublicKey::Ed25519(key.verifying_key()));
            ev = ev.sign_ed25519(id, key)?;
        }
        events.push(ev);
    }
    let unchanged = plan.len() - events.len();
    if args.dry_run {
        if args.json {
            for ev in &events {
                println!("{}", json!(ev));
            }
        }
        eprintln!(
            "dry run: {} event(s) would be sent, {unchanged} item(s) unchanged; nothing sent",
            events.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let sent = events.len();
    let expected = match catalog_version {
        Some(v) => ExpectedVersionWire::Exact(v),
        None => ExpectedVersionWire::State(ExpectedState::NoStream),
    };
    send_batches(&client, batches(events, expected), |r| printer.print(r))
        .await
        .context("catalogue not (fully) imported; re-run to import the rest")?;
    eprintln!("{name}: {sent} event(s) appended, {unchanged} item(s) already in the catalogue");
    Ok(ExitCode::SUCCESS)
}

/// `row 3 HJ-CSDJ-003 出生登记: publish version 1`.
fn describe(planned: &PlannedItem, dry_run: bool) -> String {
    let what = match (planned.change, dry_run) {
        (Change::Publish, true) => "would publish version 1".to_owned(),
        (Change::Publish, false) => "publish version 1".to_owned(),
        (Change::Revise { from }, true) => format!("would revise version {from} to {}", from + 1),
        (Change::Revise { from }, false) => format!("revise version {from} to {}", from + 1),
        (Change::Unchanged { version }, _) => format!("unchanged (version {version})"),
    };
    format!(
        "row {} {} {}: {what}",
        planned.row, planned.item.item_id, planned.item.name
    )
}

/// Every event of `stream`, checked to be canonical log entries; none if
/// the stream does not exist.
async fn read_stream(client: &Client, stream: &str) -> anyhow::Result<Vec<Event>> {
    let mut events = Vec::new();
    let mut from = 0;
    loop {
        let path = format!("/v1/streams/{stream}/events?from={from}&limit=1000");
        let page: EventPage = match client.get_json(&path).await {
            Ok(page) => page,
            Err(e) if e.problem_kind() == Some("not-found") => return Ok(events),
            Err(e) => return Err(e.into()),
        };
        for view in &page.events {
            let mut entry = Vec::new();
            ledger::jcs::write_value(&mut entry, &view.event);
            events.push(Event::from_entry(&entry).with_context(|| {
                format!("the server's {stream} stream, entry {}", view.log_index)
            })?);
        }
        match page.next {
            Some(next) => from = next,
            None => return Ok(events),
        }
    }
}
