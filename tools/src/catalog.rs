//! Service items (事项) from the spreadsheets governments publish them in,
//! checked row by row and turned into `catalog.item_published` /
//! `catalog.item_revised` payloads.
//!
//! A catalogue sheet has one header row (titles above it are skipped) with
//! Chinese column names — 事项编码, 事项名称, 事项类别, 受理单位, 审批机构,
//! 办理依据, 办理时限, 申请材料, 办理流程, 审核层级, 办理渠道, and optionally
//! 收费项目, 收费标准, 收费依据 — which [`Headers`] lets a caller rename.
//! [`parse_sheet`] reads every row and gives either a
//! [`projections::schema::ServiceItem`] or the problems that stop it, each
//! naming the row as the spreadsheet shows it and the column;
//! [`plan_import`] compares the items with the catalogue as it stands, so
//! that importing a file again publishes nothing already there and revises
//! only what changed.
//!
//! The payload rules are the schema's own ([`projections::schema`]: a
//! catch-all material such as "其他材料" is refused there); this module
//! only reads cells into them. It does no I/O beyond opening the file in
//! [`Sheet::open`], and sends nothing: `ledger catalog import` does.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use calamine::{Data, Reader as _};
use projections::catalogue::Catalogue;
use projections::schema::{self, Channel, MaterialName, ServiceItem};
use serde_json::{Map, Value, json};

/// How many rows from the top the header row is looked for in (title rows,
/// notes and blank rows may come first).
pub const HEADER_SEARCH_ROWS: usize = 20;

/// Why a file cannot be read as a catalogue at all (row-level problems are
/// [`RowProblem`]s instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The file's extension is not one of `.xlsx`, `.xlsm`, `.xls`, `.ods`,
    /// `.csv`.
    #[error("{path}: not a spreadsheet this reads (.xlsx, .xls, .ods, .csv)")]
    UnsupportedFormat { path: String },
    /// The workbook or CSV file could not be opened or decoded.
    #[error("{path}: {reason}")]
    Unreadable { path: String, reason: String },
    /// The workbook has no sheet of that name (or no sheet at all).
    #[error("{path}: no sheet {sheet:?} (sheets: {available})")]
    NoSheet {
        path: String,
        sheet: String,
        available: String,
    },
    /// A CSV row is not UTF-8 (government CSVs are often GBK: save as
    /// UTF-8).
    #[error("row {row}: not UTF-8 text; save the file as CSV UTF-8")]
    NotUtf8 { row: u32 },
    /// No row near the top names the item name column.
    #[error("no header row with a {wanted:?} column in the first {searched} rows")]
    NoHeaderRow { wanted: String, searched: usize },
    /// The header row lacks columns that every item needs.
    #[error("header row {row}: missing column(s) {}", columns.join(", "))]
    MissingColumns { row: u32, columns: Vec<String> },
    /// Two columns of the header row carry the same field.
    #[error("header row {row}: column {column:?} appears twice")]
    DuplicateColumn { row: u32, column: String },
    /// A header mapping names a field this module does not know, or is
    /// not a mapping.
    #[error("header mapping: {reason}")]
    HeaderMapping { reason: String },
}

/// A field of a service item, and the column it is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Field {
    /// 事项编码: the item id (letters, digits, `-`, `_`, `.`).
    ItemCode,
    /// 事项名称.
    Name,
    /// 事项类别.
    Category,
    /// 受理单位: a registered department, by id or by registered name.
    AcceptingUnit,
    /// 审批机构.
    ApprovingBody,
    /// 办理依据: one basis a line (or separated by `；`).
    LegalBasis,
    /// 办理时限: working days, `20` or `20个工作日`.
    TimeLimit,
    /// 申请材料: one material a line (numbering such as `1.` is dropped).
    Materials,
    /// 办理流程: steps a line, or separated by `→`, `；`, `、`.
    ProcessSteps,
    /// 审核层级: how many review layers, 0 to 10.
    ReviewLayers,
    /// 办理渠道: 窗口, 网上办理, 自助办理, 委托代办, 邮寄, 上门办理.
    Channels,
    /// 收费项目: fee names a line; empty, 无 or 不收费 for none.
    FeeName,
    /// 收费标准: each fee's amount in yuan (`80`, `80元/件`).
    FeeAmount,
    /// 收费依据: each fee's basis (one for all, or one a line).
    FeeBasis,
}

impl Field {
    /// Every field, in the order of a published catalogue.
    pub const ALL: [Field; 14] = [
        Field::ItemCode,
        Field::Name,
        Field::Category,
        Field::AcceptingUnit,
        Field::ApprovingBody,
        Field::LegalBasis,
        Field::TimeLimit,
        Field::Materials,
        Field::ProcessSteps,
        Field::ReviewLayers,
        Field::Channels,
        Field::FeeName,
        Field::FeeAmount,
        Field::FeeBasis,
    ];

    /// The standard column header.
    pub fn standard_header(self) -> &'static str {
        match self {
            Field::ItemCode => "事项编码",
            Field::Name => "事项名称",
            Field::Category => "事项类别",
            Field::AcceptingUnit => "受理单位",
            Field::ApprovingBody => "审批机构",
            Field::LegalBasis => "办理依据",
            Field::TimeLimit => "办理时限",
            Field::Materials => "申请材料",
            Field::ProcessSteps => "办理流程",
            Field::ReviewLayers => "审核层级",
            Field::Channels => "办理渠道",
            Field::FeeName => "收费项目",
            Field::FeeAmount => "收费标准",
            Field::FeeBasis => "收费依据",
        }
    }

    /// Whether a sheet without this column is refused (the fee columns
    /// may be left out: no fees).
    pub fn required(self) -> bool {
        !matches!(self, Field::FeeName | Field::FeeAmount | Field::FeeBasis)
    }

    fn by_standard_header(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.standard_header() == name)
    }

    /// The field of a payload path (`materials[2]` → 申请材料).
    fn of_payload_path(path: &str) -> Option<Field> {
        let top = path.split(['.', '[']).next().unwrap_or(path);
        Some(match top {
            "item_id" => Field::ItemCode,
            "name" => Field::Name,
            "category" => Field::Category,
            "accepting_unit" => Field::AcceptingUnit,
            "approving_body" => Field::ApprovingBody,
            "legal_basis" => Field::LegalBasis,
            "time_limit_days" => Field::TimeLimit,
            "materials" => Field::Materials,
            "process_steps" => Field::ProcessSteps,
            "review_layers" => Field::ReviewLayers,
            "channels" => Field::Channels,
            "fees" => Field::FeeName,
            _ => return None,
        })
    }
}

/// Which column header carries each field. Headers are compared after
/// removing white space and a trailing note in brackets, so
/// `办理时限（工作日）` is `办理时限`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headers {
    names: BTreeMap<Field, String>,
}

impl Default for Headers {
    fn default() -> Self {
        Headers {
            names: Field::ALL
                .into_iter()
                .map(|f| (f, f.standard_header().to_owned()))
                .collect(),
        }
    }
}

impl Headers {
    /// Reads field `standard` (a standard header, e.g. 事项名称) from the
    /// column headed `actual` instead.
    pub fn rename(&mut self, standard: &str, actual: &str) -> Result<(), CatalogError> {
        let field = Field::by_standard_header(standard.trim()).ok_or_else(|| {
            CatalogError::HeaderMapping {
                reason: format!(
                    "{standard:?} is not a field; the fields are {}",
                    Field::ALL.map(Field::standard_header).join(", ")
                ),
            }
        })?;
        self.names.insert(field, actual.trim().to_owned());
        Ok(())
    }

    /// The standard headers with the renames of a TOML table of
    /// `"standard" = "actual"` lines, e.g. `"事项名称" = "Service name"`
    /// (TOML keys outside ASCII letters and digits are quoted).
    pub fn from_toml(text: &str) -> Result<Headers, CatalogError> {
        let table: toml::Table = text.parse().map_err(|e| CatalogError::HeaderMapping {
            reason: format!("not TOML: {e}"),
        })?;
        let mut headers = Headers::default();
        for (standard, actual) in &table {
            let actual = actual.as_str().ok_or_else(|| CatalogError::HeaderMapping {
                reason: format!("{standard}: expected a header name in quotes"),
            })?;
            headers.rename(standard, actual)?;
        }
        Ok(headers)
    }

    /// The header the field is read from.
    pub fn header(&self, field: Field) -> &str {
        self.names
            .get(&field)
            .map_or(field.standard_header(), String::as_str)
    }

    fn field_of(&self, header: &str) -> Option<Field> {
        let header = normalise_header(header);
        self.names
            .iter()
            .find(|(_, name)| normalise_header(name) == header)
            .map(|(f, _)| *f)
    }
}

/// A sheet as text cells, each row with its number as the spreadsheet
/// shows it (from 1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sheet {
    rows: Vec<SheetRow>,
}

/// One row of a [`Sheet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SheetRow {
    /// The row number the spreadsheet shows (1 is the top row).
    pub number: u32,
    pub cells: Vec<String>,
}

impl Sheet {
    /// A sheet of `rows`, numbered from 1.
    pub fn from_rows(rows: Vec<Vec<String>>) -> Sheet {
        Sheet {
            rows: rows
                .into_iter()
                .enumerate()
                .map(|(i, cells)| SheetRow {
                    number: row_number(i, 0),
                    cells,
                })
                .collect(),
        }
    }

    /// Reads `path` by its extension: `.xlsx`/`.xlsm`/`.xls`/`.ods` through
    /// calamine (the sheet named `sheet`, else the first), `.csv` as UTF-8
    /// CSV.
    pub fn open(path: &Path, sheet: Option<&str>) -> Result<Sheet, CatalogError> {
        let shown = path.display().to_string();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => {
                let bytes = std::fs::read(path).map_err(|e| CatalogError::Unreadable {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
                Sheet::from_csv(&bytes).map_err(|e| match e {
                    CatalogError::Unreadable { reason, .. } => CatalogError::Unreadable {
                        path: shown,
                        reason,
                    },
                    other => other,
                })
            }
            Some("xlsx" | "xlsm" | "xls" | "ods") => {
                let unreadable = |e: calamine::Error| CatalogError::Unreadable {
                    path: shown.clone(),
                    reason: e.to_string(),
                };
                let mut book = calamine::open_workbook_auto(path).map_err(unreadable)?;
                let names = book.sheet_names();
                let name = match sheet {
                    Some(s) => names.iter().find(|n| *n == s),
                    None => names.first(),
                }
                .cloned()
                .ok_or_else(|| CatalogError::NoSheet {
                    path: shown.clone(),
                    sheet: sheet.unwrap_or("(first)").to_owned(),
                    available: names.join(", "),
                })?;
                let range = book.worksheet_range(&name).map_err(unreadable)?;
                Ok(Sheet::from_range(&range))
            }
            _ => Err(CatalogError::UnsupportedFormat { path: shown }),
        }
    }

    /// A calamine range; row numbers count from the sheet's top, not the
    /// range's first used row.
    pub fn from_range(range: &calamine::Range<Data>) -> Sheet {
        let (top, left) = range.start().unwrap_or((0, 0));
        let rows = range
            .rows()
            .enumerate()
            .map(|(i, cells)| {
                // Columns left of the used range are empty.
                let mut row = vec![String::new(); left as usize];
                row.extend(cells.iter().map(cell_text));
                SheetRow {
                    number: row_number(i, top),
                    cells: row,
                }
            })
            .collect();
        Sheet { rows }
    }

    /// UTF-8 CSV (a byte-order mark is ignored); record `i` is row `i + 1`.
    pub fn from_csv(bytes: &[u8]) -> Result<Sheet, CatalogError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        let mut rows = Vec::new();
        for (i, record) in reader.byte_records().enumerate() {
            let number = row_number(i, 0);
            let record = record.map_err(|e| CatalogError::Unreadable {
                path: String::new(),
                reason: format!("row {number}: {e}"),
            })?;
            let cells = record
                .iter()
                .map(|c| String::from_utf8(c.to_vec()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| CatalogError::NotUtf8 { row: number })?;
            rows.push(SheetRow { number, cells });
        }
        Ok(Sheet { rows })
    }

    pub fn rows(&self) -> &[SheetRow] {
        &self.rows
    }
}

/// The departments a 受理单位 cell may name: by id, or by the name the
/// department was registered under.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Departments {
    by_id: BTreeMap<String, String>,
}

impl Departments {
    pub fn insert(&mut self, id: &str, name: &str) {
        self.by_id.insert(id.to_owned(), name.trim().to_owned());
    }

    /// Applies a `registry` event: `department.registered` adds one.
    pub fn apply(&mut self, event_type: &str, payload: &Map<String, Value>) {
        if event_type != api::auth::DEPARTMENT_REGISTERED {
            return;
        }
        if let (Some(id), Some(name)) = (
            payload.get("department").and_then(Value::as_str),
            payload.get("name").and_then(Value::as_str),
        ) {
            self.insert(id, name);
        }
    }

    /// The department id `text` names.
    pub fn resolve(&self, text: &str) -> Option<&str> {
        let text = text.trim();
        if let Some((id, _)) = self.by_id.get_key_value(text) {
            return Some(id);
        }
        self.by_id
            .iter()
            .find(|(_, name)| name.as_str() == text)
            .map(|(id, _)| id.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// A row that cannot be taken, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowProblem {
    /// The row number the spreadsheet shows.
    pub row: u32,
    /// The column's header as in the file.
    pub column: String,
    pub reason: String,
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}, {}: {}", self.row, self.column, self.reason)
    }
}

/// An item read from a row; its `version` is 1 until [`plan_import`] sets
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemRow {
    pub row: u32,
    pub item: ServiceItem,
}

/// What [`parse_sheet`] made of a sheet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedSheet {
    /// The header row's number.
    pub header_row: u32,
    /// The rows that make an item.
    pub items: Vec<ItemRow>,
    /// Every problem of every other row, in row order.
    pub problems: Vec<RowProblem>,
}

impl ParsedSheet {
    /// How many rows had problems.
    pub fn bad_rows(&self) -> usize {
        let mut rows: Vec<u32> = self.problems.iter().map(|p| p.row).collect();
        rows.dedup();
        rows.len()
    }
}

/// Reads every item row of `sheet` (rows below the header row; empty rows
/// are skipped). A row with any problem gives no item; all its problems
/// are reported.
pub fn parse_sheet(
    sheet: &Sheet,
    headers: &Headers,
    departments: &Departments,
) -> Result<ParsedSheet, CatalogError> {
    let name_header = headers.header(Field::Name);
    let header_at = sheet
        .rows
        .iter()
        .take(HEADER_SEARCH_ROWS)
        .position(|r| {
            r.cells
                .iter()
                .any(|c| normalise_header(c) == normalise_header(name_header))
        })
        .ok_or_else(|| CatalogError::NoHeaderRow {
            wanted: name_header.to_owned(),
            searched: HEADER_SEARCH_ROWS,
        })?;
    let header = &sheet.rows[header_at];
    let mut columns: HashMap<Field, usize> = HashMap::new();
    for (i, cell) in header.cells.iter().enumerate() {
        if let Some(field) = headers.field_of(cell)
            && columns.insert(field, i).is_some()
        {
            return Err(CatalogError::DuplicateColumn {
                row: header.number,
                column: cell.trim().to_owned(),
            });
        }
    }
    let missing: Vec<String> = Field::ALL
        .into_iter()
        .filter(|f| f.required() && !columns.contains_key(f))
        .map(|f| headers.header(f).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(CatalogError::MissingColumns {
            row: header.number,
            columns: missing,
        });
    }

    let mut parsed = ParsedSheet {
        header_row: header.number,
        ..ParsedSheet::default()
    };
    let mut first_row_of: HashMap<String, u32> = HashMap::new();
    for row in &sheet.rows[header_at + 1..] {
        if row.cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let reader = RowReader {
            row,
            columns: &columns,
            headers,
        };
        match reader.item(departments) {
            Ok(item) => {
                let id = item.item_id.to_string();
                if let Some(first) = first_row_of.get(&id) {
                    parsed.problems.push(
                        reader
                            .problem(Field::ItemCode, format!("item {id} is also on row {first}")),
                    );
                } else {
                    first_row_of.insert(id, row.number);
                    parsed.items.push(ItemRow {
                        row: row.number,
                        item,
                    });
                }
            }
            Err(problems) => parsed.problems.extend(problems),
        }
    }
    Ok(parsed)
}

/// What an import does with one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Not in the catalogue: published as version 1.
    Publish,
    /// In the catalogue with other content (or withdrawn): published as
    /// the next version.
    Revise { from: u32 },
    /// In the catalogue as it is: nothing sent.
    Unchanged { version: u32 },
}

/// An item with its version and what to do with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedItem {
    pub row: u32,
    /// With its version set.
    pub item: ServiceItem,
    pub change: Change,
}

impl PlannedItem {
    /// The event type to append, or `None` if nothing is to be sent.
    pub fn event_type(&self) -> Option<&'static str> {
        match self.change {
            Change::Publish => Some(schema::ITEM_PUBLISHED),
            Change::Revise { .. } => Some(schema::ITEM_REVISED),
            Change::Unchanged { .. } => None,
        }
    }

    /// The event's payload.
    pub fn payload(&self) -> Map<String, Value> {
        match serde_json::to_value(&self.item) {
            Ok(Value::Object(m)) => m,
            // A struct of plain fields always serialises to an object.
            _ => Map::new(),
        }
    }
}

/// Compares `items` with the catalogue as it stands: new items are
/// published, changed (or withdrawn) ones revised, identical ones left.
pub fn plan_import(items: &[ItemRow], current: &Catalogue) -> Vec<PlannedItem> {
    items
        .iter()
        .map(|row| {
            let mut item = row.item.clone();
            let history = current.history(item.item_id.as_str());
            let latest = history.and_then(|h| h.versions.iter().max_by_key(|v| v.item.version));
            let change = match (history, latest) {
                (Some(h), Some(latest)) => {
                    item.version = latest.item.version;
                    if item == latest.item && h.withdrawn.is_none() {
                        Change::Unchanged {
                            version: item.version,
                        }
                    } else {
                        item.version = latest.item.version + 1;
                        Change::Revise {
                            from: latest.item.version,
                        }
                    }
                }
                _ => {
                    item.version = 1;
                    Change::Publish
                }
            };
            PlannedItem {
                row: row.row,
                item,
                change,
            }
        })
        .collect()
}

/// Reads one row's cells.
struct RowReader<'a> {
    row: &'a SheetRow,
    columns: &'a HashMap<Field, usize>,
    headers: &'a Headers,
}

impl RowReader<'_> {
    fn cell(&self, field: Field) -> &str {
        self.columns
            .get(&field)
            .and_then(|i| self.row.cells.get(*i))
            .map_or("", |c| c.trim())
    }

    fn problem(&self, field: Field, reason: impl Into<String>) -> RowProblem {
        RowProblem {
            row: self.row.number,
            column: self.headers.header(field).to_owned(),
            reason: reason.into(),
        }
    }

    /// The item of this row, or every problem found in it.
    fn item(&self, departments: &Departments) -> Result<ServiceItem, Vec<RowProblem>> {
        let mut problems = Vec::new();
        let mut payload = Map::new();
        let mut put = |field: Field, key: &str, value: Result<Value, String>| match value {
            Ok(v) => {
                payload.insert(key.to_owned(), v);
            }
            Err(reason) => problems.push(self.problem(field, reason)),
        };
        put(Field::ItemCode, "item_id", self.text(Field::ItemCode));
        put(Field::Name, "name", self.text(Field::Name));
        put(Field::Category, "category", self.text(Field::Category));
        put(
            Field::AcceptingUnit,
            "accepting_unit",
            self.department(departments),
        );
        put(
            Field::ApprovingBody,
            "approving_body",
            self.text(Field::ApprovingBody),
        );
        put(
            Field::LegalBasis,
            "legal_basis",
            self.list(Field::LegalBasis, &['\n', '；', ';']),
        );
        put(
            Field::TimeLimit,
            "time_limit_days",
            self.count(Field::TimeLimit, 1, 365),
        );
        put(Field::Materials, "materials", self.materials());
        put(
            Field::ProcessSteps,
            "process_steps",
            self.list(
                Field::ProcessSteps,
                &['\n', '；', ';', '→', '、', '，', ','],
            ),
        );
        put(
            Field::ReviewLayers,
            "review_layers",
            self.count(Field::ReviewLayers, 0, 10),
        );
        put(Field::Channels, "channels", self.channels());
        match self.fees() {
            Ok(fees) => {
                payload.insert("fees".to_owned(), fees);
            }
            Err(p) => problems.push(p),
        }
        payload.insert("version".to_owned(), json!(1));
        if !problems.is_empty() {
            return Err(problems);
        }
        let payload = Value::Object(payload);
        // The schema's own rules, for whatever the cell readers let by.
        if let Err(e) = schema::validate(schema::ITEM_PUBLISHED, &payload) {
            let field = e
                .path()
                .and_then(Field::of_payload_path)
                .unwrap_or(Field::Name);
            let reason = match &e {
                schema::SchemaError::Invalid { reason, .. } => reason.clone(),
                other => other.to_string(),
            };
            return Err(vec![self.problem(field, reason)]);
        }
        serde_json::from_value(payload).map_err(|e| vec![self.problem(Field::Name, e.to_string())])
    }

    fn text(&self, field: Field) -> Result<Value, String> {
        let text = self.cell(field);
        if text.is_empty() {
            return Err("missing".into());
        }
        Ok(json!(text))
    }

    fn department(&self, departments: &Departments) -> Result<Value, String> {
        let text = self.cell(Field::AcceptingUnit);
        if text.is_empty() {
            return Err("missing".into());
        }
        departments
            .resolve(text)
            .map(|id| json!(id))
            .ok_or_else(|| {
                format!("{text:?} is not a registered department (give its id or registered name)")
            })
    }

    fn list(&self, field: Field, separators: &[char]) -> Result<Value, String> {
        let items = split_list(self.cell(field), separators);
        if items.is_empty() {
            return Err("missing".into());
        }
        Ok(json!(items))
    }

    /// A whole number from `min` to `max`; `20个工作日` and `20 工作日`
    /// are 20.
    fn count(&self, field: Field, min: u32, max: u32) -> Result<Value, String> {
        let text = self.cell(field);
        if text.is_empty() {
            return Err("missing".into());
        }
        let digits = text
            .strip_suffix("个工作日")
            .or_else(|| text.strip_suffix("工作日"))
            .or_else(|| text.strip_suffix("层"))
            .or_else(|| text.strip_suffix("级"))
            .unwrap_or(text)
            .trim();
        let n: u32 = digits
            .parse()
            .map_err(|_| format!("{text:?} is not a whole number"))?;
        if !(min..=max).contains(&n) {
            return Err(format!("{n} is not between {min} and {max}"));
        }
        Ok(json!(n))
    }

    /// Materials one a line; a catch-all ("其他材料") is named as such.
    fn materials(&self) -> Result<Value, String> {
        let names = split_list(self.cell(Field::Materials), &['\n', '；', ';']);
        if names.is_empty() {
            return Err("missing".into());
        }
        for name in &names {
            MaterialName::new(name)?;
        }
        Ok(json!(names))
    }

    fn channels(&self) -> Result<Value, String> {
        let words = split_list(
            self.cell(Field::Channels),
            &['\n', '；', ';', '、', '，', ',', '/'],
        );
        if words.is_empty() {
            return Err("missing".into());
        }
        let mut channels = Vec::new();
        for word in &words {
            let channel = channel_of(word).ok_or_else(|| {
                format!(
                    "{word:?} is not a channel (窗口, 网上办理, 自助办理, 委托代办, 邮寄, 上门办理)"
                )
            })?;
            if !channels.contains(&channel) {
                channels.push(channel);
            }
        }
        Ok(json!(channels))
    }

    /// The fee columns, aligned line by line; none when the name cell is
    /// empty or says there is no fee.
    fn fees(&self) -> Result<Value, RowProblem> {
        let names = self.cell(Field::FeeName);
        if ["", "无", "不收费", "免费", "否", "/", "-", "—"].contains(&names) {
            return Ok(json!([]));
        }
        let names = split_list(names, &['\n', '；', ';']);
        let amounts = split_list(self.cell(Field::FeeAmount), &['\n', '；', ';']);
        let bases = split_list(self.cell(Field::FeeBasis), &['\n']);
        if amounts.len() != names.len() {
            return Err(self.problem(
                Field::FeeAmount,
                format!(
                    "{} fee(s) named but {} amount(s)",
                    names.len(),
                    amounts.len()
                ),
            ));
        }
        if bases.is_empty() || (bases.len() != 1 && bases.len() != names.len()) {
            return Err(self.problem(
                Field::FeeBasis,
                format!(
                    "{} fee(s): give one basis for all or one each, not {}",
                    names.len(),
                    bases.len()
                ),
            ));
        }
        let mut fees = Vec::with_capacity(names.len());
        for (i, (name, amount)) in names.iter().zip(&amounts).enumerate() {
            let fen = yuan_to_fen(amount).ok_or_else(|| {
                self.problem(
                    Field::FeeAmount,
                    format!("{amount:?} is not an amount in yuan"),
                )
            })?;
            let basis = bases.get(i).unwrap_or(&bases[0]);
            fees.push(json!({"name": name, "amount_fen": fen, "basis": basis}));
        }
        Ok(Value::Array(fees))
    }
}

/// Row `i` of a range whose first row is sheet row `top` (both from 0), as
/// the spreadsheet numbers it (from 1).
fn row_number(i: usize, top: u32) -> u32 {
    top.saturating_add(u32::try_from(i).unwrap_or(u32::MAX))
        .saturating_add(1)
}

/// A cell as text: whole numbers without `.0`.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        other => other.to_string(),
    }
}

/// `办理时限（工作日）` → `办理时限`; white space removed.
fn normalise_header(header: &str) -> String {
    let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
    match compact.find(['（', '(']) {
        Some(0) | None => compact,
        Some(at) => compact[..at].to_owned(),
    }
}

/// Splits a cell into its entries, dropping numbering (`1.`, `1、`,
/// `（1）`, `①`) and empty entries.
fn split_list(text: &str, separators: &[char]) -> Vec<String> {
    text.split(|c| separators.contains(&c))
        .map(strip_numbering)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn strip_numbering(entry: &str) -> &str {
    let s = entry.trim();
    if let Some(rest) = s.strip_prefix(|c: char| ('①'..='⑳').contains(&c)) {
        return rest.trim();
    }
    for (open, close) in [('（', '）'), ('(', ')')] {
        if let Some(inner) = s.strip_prefix(open)
            && let Some((n, rest)) = inner.split_once(close)
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit())
        {
            return rest.trim();
        }
    }
    let digits = s.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 {
        let rest = &s[digits..];
        for mark in ['.', '、', '．', ')', '）'] {
            if let Some(rest) = rest.strip_prefix(mark) {
                return rest.trim();
            }
        }
    }
    s
}

/// A channel by its Chinese label (or a common variant) or its id.
fn channel_of(word: &str) -> Option<Channel> {
    const ALL: [Channel; 6] = [
        Channel::Window,
        Channel::Online,
        Channel::Agent,
        Channel::Post,
        Channel::DoorToDoor,
        Channel::SelfService,
    ];
    let aliases: [(&str, Channel); 8] = [
        ("窗口办理", Channel::Window),
        ("现场办理", Channel::Window),
        ("网上", Channel::Online),
        ("网办", Channel::Online),
        ("代办", Channel::Agent),
        ("邮寄办理", Channel::Post),
        ("上门", Channel::DoorToDoor),
        ("自助", Channel::SelfService),
    ];
    ALL.into_iter()
        .find(|c| c.label() == word || serde_json::to_value(c).ok() == Some(json!(word)))
        .or_else(|| aliases.iter().find(|(a, _)| *a == word).map(|(_, c)| *c))
}

/// `80`, `80元`, `80.5元/件` → fen.
fn yuan_to_fen(text: &str) -> Option<u64> {
    let number = text
        .split(['/', '／'])
        .next()
        .unwrap_or(text)
        .trim()
        .trim_end_matches('元')
        .trim();
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || frac.len() > 2 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let frac: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().ok()?
    };
    whole.checked_mul(100)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: [&str; 14] = [
        "序号",
        "事项编码",
        "事项名称",
        "事项类别",
        "受理单位",
        "审批机构",
        "办理依据",
        "办理时限（工作日）",
        "申请材料",
        "办理流程",
        "审核层级",
        "办理渠道",
        "收费项目",
        "收费标准",
    ];

    fn departments() -> Departments {
        let mut d = Departments::default();
        d.insert("dept-market", "市市场监督管理局");
        d
    }

    fn good_row(code: &str, limit: &str, materials: &str) -> Vec<String> {
        [
            "1",
            code,
            "食品经营许可",
            "行政许可",
            "市市场监督管理局",
            "市市场监督管理局",
            "《中华人民共和国食品安全法》第三十五条\n《食品经营许可和备案管理办法》",
            limit,
            materials,
            "受理→审查→决定→送达",
            "2",
            "窗口、网上办理",
            "不收费",
            "",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn sheet(rows: Vec<Vec<String>>) -> Sheet {
        let mut all = vec![
            vec!["玉溪市政务服务事项目录".to_owned()],
            HEADER.map(str::to_owned).to_vec(),
        ];
        all.extend(rows);
        Sheet::from_rows(all)
    }

    #[test]
    fn a_good_row_makes_a_valid_item() {
        let s = sheet(vec![good_row(
            "scj-spjy",
            "20个工作日",
            "1.食品经营许可申请书\n2.营业执照\n（3）食品安全管理制度",
        )]);
        let parsed = parse_sheet(&s, &Headers::default(), &departments()).expect("parsed");
        assert_eq!(parsed.header_row, 2);
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        let item = &parsed.items[0].item;
        assert_eq!(parsed.items[0].row, 3);
        assert_eq!(item.accepting_unit.as_str(), "dept-market");
        assert_eq!(item.time_limit_days, 20);
        assert_eq!(item.review_layers, 2);
        let materials: Vec<&str> = item.materials.iter().map(MaterialName::as_str).collect();
        assert_eq!(
            materials,
            ["食品经营许可申请书", "营业执照", "食品安全管理制度"]
        );
        assert_eq!(item.process_steps.len(), 4);
        assert_eq!(item.channels, [Channel::Window, Channel::Online]);
        assert!(item.fees.is_empty());
        assert_eq!(item.legal_basis.len(), 2);
    }

    #[test]
    fn bad_rows_are_named_by_row_and_column() {
        let mut unknown_unit = good_row("d", "5", "营业执照");
        unknown_unit[4] = "市不存在局".into();
        let s = sheet(vec![
            good_row("a", "", "营业执照"),
            good_row("b", "二十", "营业执照\n其他材料"),
            good_row("c", "0", "营业执照"),
            unknown_unit,
            good_row("a", "5", "营业执照"),
        ]);
        let parsed = parse_sheet(&s, &Headers::default(), &departments()).expect("parsed");
        let got: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
        // Row 7 repeats row 3's code, but row 3 made no item.
        assert_eq!(parsed.items.len(), 1, "{got:?}");
        assert_eq!(parsed.items[0].row, 7);
        assert!(got[0].starts_with("row 3, 办理时限: missing"), "{got:?}");
        assert!(got[1].starts_with("row 4, 办理时限: \"二十\" is not a whole number"));
        assert!(got[2].starts_with("row 4, 申请材料:") && got[2].contains("其他材料"));
        assert!(got[3].starts_with("row 5, 办理时限: 0 is not between 1 and 365"));
        assert!(got[4].starts_with("row 6, 受理单位:"));
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(parsed.bad_rows(), 4);
    }

    #[test]
    fn duplicate_codes_and_missing_columns_are_refused() {
        let s = sheet(vec![
            good_row("a", "5", "营业执照"),
            good_row("a", "6", "营业执照"),
        ]);
        let parsed = parse_sheet(&s, &Headers::default(), &departments()).expect("parsed");
        assert_eq!(parsed.items.len(), 1);
        assert_eq!(
            parsed.problems[0].to_string(),
            "row 4, 事项编码: item a is also on row 3"
        );

        let no_limit = Sheet::from_rows(vec![vec!["事项名称".into(), "事项编码".into()]]);
        match parse_sheet(&no_limit, &Headers::default(), &departments()) {
            Err(CatalogError::MissingColumns { row: 1, columns }) => {
                assert!(columns.contains(&"办理时限".to_owned()), "{columns:?}")
            }
            other => panic!("{other:?}"),
        }
        let no_header = Sheet::from_rows(vec![vec!["x".into()]]);
        assert!(matches!(
            parse_sheet(&no_header, &Headers::default(), &departments()),
            Err(CatalogError::NoHeaderRow { .. })
        ));
    }

    #[test]
    fn an_import_publishes_new_items_revises_changed_ones_and_leaves_the_rest() {
        let s = sheet(vec![
            good_row("a", "5", "营业执照"),
            good_row("b", "5", "营业执照"),
            good_row("c", "5", "营业执照"),
        ]);
        let parsed = parse_sheet(&s, &Headers::default(), &departments()).expect("parsed");
        let first = plan_import(&parsed.items, &Catalogue::default());
        assert!(
            first
                .iter()
                .all(|p| p.change == Change::Publish && p.item.version == 1)
        );

        // The catalogue holds a and b as published; b's time limit changes.
        let events: Vec<ledger::Event> = first[..2]
            .iter()
            .enumerate()
            .map(|(i, p)| {
                ledger::ProposedEvent::new(
                    ledger::StreamId::new(schema::CATALOG_STREAM).expect("stream"),
                    ledger::EventType::new(p.event_type().expect("publish")).expect("type"),
                    ledger::Timestamp::now(),
                    ledger::Actor {
                        department: ledger::ActorId::new("dept-zwfw").expect("id"),
                        officer: None,
                    },
                    p.payload(),
                )
                .seal(
                    ledger::StreamVersion(i as u64),
                    ledger::Timestamp::now(),
                    ledger::LeafHash::GENESIS,
                )
                .expect("seal")
                .event
            })
            .collect();
        let catalogue = Catalogue::fold(&events);
        let mut items = parsed.items.clone();
        items[1].item.time_limit_days = 7;
        let plan = plan_import(&items, &catalogue);
        assert_eq!(plan[0].change, Change::Unchanged { version: 1 });
        assert_eq!(plan[0].event_type(), None);
        assert_eq!(plan[1].change, Change::Revise { from: 1 });
        assert_eq!(plan[1].item.version, 2);
        assert_eq!(plan[1].event_type(), Some(schema::ITEM_REVISED));
        assert_eq!(plan[2].change, Change::Publish);
        // What would be sent fits the schema.
        for p in &plan[1..] {
            let event_type = p.event_type().expect("sent");
            schema::validate(event_type, &Value::Object(p.payload())).expect("valid");
        }
    }

    #[test]
    fn headers_can_be_renamed() {
        let mut headers = Headers::from_toml("\"事项名称\" = \"Service name\"").expect("toml");
        headers.rename("办理时限", "Days").expect("rename");
        assert_eq!(headers.header(Field::Name), "Service name");
        assert_eq!(headers.field_of("Days"), Some(Field::TimeLimit));
        assert!(headers.rename("不存在", "x").is_err());
        assert!(Headers::from_toml("\"事项名称\" = 3").is_err());
    }

    #[test]
    fn fees_and_amounts() {
        assert_eq!(yuan_to_fen("80"), Some(8000));
        assert_eq!(yuan_to_fen("80元/件"), Some(8000));
        assert_eq!(yuan_to_fen("0.5元"), Some(50));
        assert_eq!(yuan_to_fen("12.34"), Some(1234));
        assert_eq!(yuan_to_fen("1.234"), None);
        assert_eq!(yuan_to_fen("免费"), None);
        let mut row = good_row("a", "5", "营业执照");
        row[12] = "不动产登记费（住宅）".into();
        row[13] = "80元/件".into();
        let mut header = HEADER.map(str::to_owned).to_vec();
        header.push("收费依据".into());
        row.push("《关于不动产登记收费标准等有关问题的通知》".into());
        let s = Sheet::from_rows(vec![header, row]);
        let parsed = parse_sheet(&s, &Headers::default(), &departments()).expect("parsed");
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(parsed.items[0].item.fees[0].amount_fen, 8000);
    }

    #[test]
    fn csv_rows_are_numbered_like_a_spreadsheet() {
        let csv = "\u{feff}标题\n事项名称,办理时限\n\"a\nb\",3\n".as_bytes();
        let s = Sheet::from_csv(csv).expect("csv");
        let numbers: Vec<u32> = s.rows().iter().map(|r| r.number).collect();
        assert_eq!(numbers, [1, 2, 3]);
        assert_eq!(s.rows()[0].cells[0], "标题");
        assert!(matches!(
            Sheet::from_csv(b"\xff\xfe,1\n"),
            Err(CatalogError::NotUtf8 { row: 1 })
        ));
    }

    #[test]
    fn numbering_is_stripped() {
        assert_eq!(
            split_list("1.甲\n2、乙\n（3）丙\n④丁\n\n", &['\n']),
            ["甲", "乙", "丙", "丁"]
        );
        assert_eq!(normalise_header(" 办理时限 (工作日) "), "办理时限");
    }
}
