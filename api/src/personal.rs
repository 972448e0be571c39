//! What the service keeps outside the log: applicants' personal data, where
//! it can be erased, and the secret keys of the keyed hashes that stand for
//! it and for a case's public status.
//!
//! # What this module does
//!
//! - [`SecretKey`]: a 32-byte key file in the data directory (mode 0600,
//!   created at first start, refused if others may read it), and
//!   [`hmac_sha256`] (RFC 2104) over it.
//! - [`ApplicantRef`]: the pseudonymous reference case events carry instead
//!   of an applicant: `hex(HMAC-SHA-256(personal.key, normalized ID number))`,
//!   so the same person always gets the same reference and nobody without the
//!   key can link a reference to an ID number.
//! - [`QueryCode`] / [`QueryCodes`]: the 办理进度查询码 of a case,
//!   `Crockford-base32(HMAC-SHA-256(status.key, "query-code:v1:" + case stream))`
//!   cut to 10 characters: stateless, the same on every start, checked in
//!   constant time.
//! - [`PersonalStore`]: the erasable store, `DIR/personal.sqlite` (SQLite,
//!   rollback journal, `secure_delete=ON` so an erased row's bytes are
//!   overwritten in the file, not merely unlinked from the b-tree).
//! - Validation of what an applicant's record holds: names, ID numbers
//!   (GB 11643-1999), phone numbers, addresses; each failure names its field.
//!
//! # What it does not do
//!
//! - Decide who may read or erase (that is `routes::applicants`), nor write
//!   anything into the log (the routes record reads and erasures there,
//!   carrying only the reference).
//! - Keep history: a record is replaced when the same person is recorded
//!   again, and gone when erased. Backups of `personal.sqlite` are the
//!   operator's to erase too.
//! - Rotate keys: a new `personal.key` gives everyone new references (the
//!   old ones stay in the log, unlinkable); a new `status.key` gives every
//!   case a new query code.

use std::fmt;
use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use chrono::{Datelike as _, NaiveDate};
use ledger::sha256::Sha256;
use ledger::{StreamId, Timestamp};
use rand::RngExt as _;
use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ProblemKind};

/// The key of applicant references, next to `admin.token`.
pub const PERSONAL_KEY_FILE: &str = "personal.key";
/// The key of query codes, next to `admin.token`.
pub const STATUS_KEY_FILE: &str = "status.key";
/// The erasable personal-data store.
pub const PERSONAL_DB_FILE: &str = "personal.sqlite";

/// Failures of the keys and the personal-data store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersonalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("personal-data store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("personal-data store: the worker task failed: {0}")]
    Task(String),
}

impl From<PersonalError> for ApiError {
    fn from(e: PersonalError) -> Self {
        match e {
            // The store failed; the statement was rolled back.
            PersonalError::Sqlite(_) | PersonalError::Task(_) => {
                ApiError::new(ProblemKind::Unavailable, e.to_string())
            }
            PersonalError::Io { .. } | PersonalError::Key { .. } => {
                ApiError::internal(e.to_string())
            }
        }
    }
}

/// HMAC-SHA-256 of `message` under `key` (RFC 2104, with SHA-256's block
/// size B = 64 bytes and output L = 32 bytes; checked against RFC 4231).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    // RFC 2104 §2: keys longer than B are first hashed; then K is padded
    // with zeros to B bytes.
    let mut padded = [0u8; BLOCK];
    if key.len() > BLOCK {
        padded[..32].copy_from_slice(&ledger::sha256::digest(key));
    } else {
        padded[..key.len()].copy_from_slice(key);
    }
    // RFC 2104 §2: H(K XOR opad, H(K XOR ipad, text)), ipad = 0x36…, opad = 0x5c….
    let inner = Sha256::new()
        .chain(padded.map(|b| b ^ 0x36))
        .chain(message)
        .finalize();
    Sha256::new()
        .chain(padded.map(|b| b ^ 0x5c))
        .chain(inner)
        .finalize()
}

/// Equality of two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A 32-byte secret kept in a file of the data directory.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    /// Reads `path` (exactly 32 bytes, not readable by group or others), or
    /// creates it (mode 0600) with 32 random bytes.
    pub fn load_or_create(path: &Path) -> Result<Self, PersonalError> {
        let io = |source| PersonalError::Io {
            path: path.to_owned(),
            source,
        };
        if path.exists() {
            let meta = fs::metadata(path).map_err(io)?;
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(PersonalError::Key {
                    path: path.to_owned(),
                    reason: format!(
                        "readable by others (mode {:o}); it must be 0600",
                        mode & 0o777
                    ),
                });
            }
            let mut bytes = Vec::with_capacity(33);
            fs::File::open(path)
                .and_then(|f| f.take(33).read_to_end(&mut bytes))
                .map_err(io)?;
            let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| PersonalError::Key {
                path: path.to_owned(),
                reason: format!("{} bytes; a key is exactly 32", b.len()),
            })?;
            return Ok(SecretKey(key));
        }
        let key: [u8; 32] = rand::rng().random();
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        f.write_all(&key).map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(SecretKey(key))
    }

    /// HMAC-SHA-256 of `message` under this key.
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.0, message)
    }
}

/// Crockford's base-32 alphabet (no I, L, O, U).
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The first `chars` characters of the Crockford base-32 encoding of
/// `bytes`, most significant bit first.
fn crockford(bytes: &[u8], chars: usize) -> String {
    let mut out = String::with_capacity(chars);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 && out.len() < chars {
            bits -= 5;
            out.push(char::from(CROCKFORD[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
        if out.len() == chars {
            break;
        }
    }
    out
}

/// A case's query code (办理进度查询码): 10 Crockford base-32 characters
/// (50 bits).
#[derive(Clone, PartialEq, Eq)]
pub struct QueryCode(String);

impl QueryCode {
    /// Characters in a code.
    pub const LEN: usize = 10;

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A code as a person typed it: case, spaces and hyphens ignored, and
    /// the letters Crockford reads as digits (O → 0, I and L → 1) mapped.
    /// `None` if it cannot be a code.
    pub fn normalize(typed: &str) -> Option<QueryCode> {
        let mut out = String::with_capacity(Self::LEN);
        for c in typed.chars() {
            let c = match c.to_ascii_uppercase() {
                ' ' | '-' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c if CROCKFORD.contains(&(c as u8)) && c.is_ascii() => c,
                _ => return None,
            };
            if out.len() == Self::LEN {
                return None;
            }
            out.push(c);
        }
        (out.len() == Self::LEN).then_some(QueryCode(out))
    }
}

impl fmt::Display for QueryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for QueryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A code opens a case's status page: keep it out of logs.
        f.write_str("QueryCode(…)")
    }
}

/// Issues and checks query codes under `status.key`.
#[derive(Debug)]
pub struct QueryCodes {
    key: SecretKey,
}

impl QueryCodes {
    pub fn new(key: SecretKey) -> Self {
        QueryCodes { key }
    }

    /// The code of `case` (its stream, `case-…`).
    pub fn code_for(&self, case: &StreamId) -> QueryCode {
        let mac = self
            .key
            .mac(format!("query-code:v1:{}", case.as_str()).as_bytes());
        QueryCode(crockford(&mac, QueryCode::LEN))
    }

    /// Whether `typed` is the code of `case`, compared in constant time
    /// (only whether `typed` has the form of a code at all is decided early,
    /// and that says nothing about the case).
    pub fn check(&self, case: &StreamId, typed: &str) -> bool {
        let expected = self.code_for(case);
        QueryCode::normalize(typed).is_some_and(|presented| {
            constant_time_eq(presented.0.as_bytes(), expected.0.as_bytes())
        })
    }
}

/// A pseudonymous applicant reference: 64 lower-case hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
pub struct ApplicantRef(String);

impl ApplicantRef {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ApplicantRef {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, FieldError> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(ApplicantRef(s.to_owned()))
        } else {
            Err(FieldError::new(
                "applicant_ref",
                "must be 64 lower-case hex digits",
            ))
        }
    }
}

impl fmt::Display for ApplicantRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One field of a personal-data record that does not fit, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

impl FieldError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        FieldError {
            field,
            reason: reason.into(),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::schema(e.to_string()).with("field", e.field)
    }
}

/// Free text of a record: trimmed, 1 to `max` characters, no control
/// characters.
fn text(field: &'static str, value: &str, max: usize) -> Result<String, FieldError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(FieldError::new(field, "empty"));
    }
    if value.chars().count() > max {
        return Err(FieldError::new(field, format!("over {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(field, "contains control characters"));
    }
    Ok(value.to_owned())
}

/// An applicant's name (姓名), as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        text("name", value, 64).map(PersonName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A citizen identity number (公民身份号码), GB 11643-1999: 6 digits of
/// address code, 8 of birth date (YYYYMMDD), 3 of sequence, and a check
/// character (a digit or X). Normalized: spaces removed, `x` upper-cased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdNumber(String);

impl IdNumber {
    /// GB 11643-1999 §6.2 (ISO 7064:1983 MOD 11-2): the weights of the 17
    /// digits, W_i = 2^(i-1) mod 11 counted from the right, check position 1.
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    /// The check character for each value of the weighted sum mod 11.
    const CHECK: &[u8; 11] = b"10X98765432";

    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let err = |reason: &str| FieldError::new("id_number", reason);
        let id: String = value
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if id.len() != 18 {
            return Err(err("must be 18 characters (GB 11643-1999)"));
        }
        let bytes = id.as_bytes();
        if !bytes[..17].iter().all(u8::is_ascii_digit) || !matches!(bytes[17], b'0'..=b'9' | b'X') {
            return Err(err("must be 17 digits and a digit or X"));
        }
        let birth = NaiveDate::parse_from_str(&id[6..14], "%Y%m%d")
            .map_err(|_| err("characters 7-14 are not a date of birth (YYYYMMDD)"))?;
        if birth.year() < 1800 || birth > chrono::Utc::now().date_naive() {
            return Err(err("the date of birth is out of range"));
        }
        let sum: u32 = bytes[..17]
            .iter()
            .zip(Self::WEIGHTS)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        if bytes[17] != Self::CHECK[(sum % 11) as usize] {
            return Err(err("the check character does not match (GB 11643-1999)"));
        }
        Ok(IdNumber(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number: digits, with an optional leading `+`; spaces and hyphens
/// are dropped; 7 to 15 digits (the E.164 maximum).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let compact: String = value.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let digits = compact.strip_prefix('+').unwrap_or(&compact);
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldError::new(
                "phone",
                "only digits, an optional leading +, spaces and hyphens",
            ));
        }
        if !(7..=15).contains(&digits.len()) {
            return Err(FieldError::new("phone", "must have 7 to 15 digits"));
        }
        Ok(PhoneNumber(compact))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A postal address (地址), as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address(String);

impl Address {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        text("address", value, 200).map(Address)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated personal-data record as a department enters it.
#[derive(Clone, Debug)]
pub struct Applicant {
    pub name: PersonName,
    pub id_number: IdNumber,
    pub phone: Option<PhoneNumber>,
    pub address: Option<Address>,
}

/// A stored record.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ApplicantRecord {
    pub applicant_ref: ApplicantRef,
    /// 姓名
    pub name: String,
    /// 公民身份号码 (normalized)
    pub id_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// When the record was last written (RFC 3339, UTC).
    pub updated_at: String,
}

/// The erasable personal-data store: one SQLite file, keyed by reference.
///
/// Rollback journal (no WAL, whose old frames would keep erased bytes until
/// a checkpoint) and `secure_delete=ON`: deleting a row overwrites its
/// bytes with zeros in the file. Every call blocks; the async wrappers run
/// them on the blocking pool.
pub struct PersonalStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl fmt::Debug for PersonalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersonalStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl PersonalStore {
    /// Opens (creating on first use) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, PersonalError> {
        // Mode 0600 like the keys, from its creation on: the file holds ID
        // numbers (SQLite gives its journal the same mode).
        let io = |source| PersonalError::Io {
            path: path.to_owned(),
            source,
        };
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io)?;
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "DELETE")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS applicants (
                 applicant_ref TEXT PRIMARY KEY,
                 name TEXT NOT NULL,
                 id_number TEXT NOT NULL,
                 phone TEXT,
                 address TEXT,
                 updated_at TEXT NOT NULL
             ) WITHOUT ROWID;
             -- Which departments recorded an applicant (they may read the record).
             CREATE TABLE IF NOT EXISTS recorded_by (
                 applicant_ref TEXT NOT NULL,
                 department TEXT NOT NULL,
                 PRIMARY KEY (applicant_ref, department)
             ) WITHOUT ROWID;",
        )?;
        Ok(PersonalStore {
            conn: Mutex::new(conn),
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A poisoned lock means a panic between statements; SQLite rolled
        // back any open transaction when the guard's scope unwound.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the record of `applicant_ref` (replacing an older one) and
    /// notes that `department` recorded it. Returns whether it is new.
    pub fn put(
        &self,
        applicant_ref: &ApplicantRef,
        applicant: &Applicant,
        department: &str,
    ) -> Result<bool, PersonalError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let existed = tx
            .query_row(
                "SELECT 1 FROM applicants WHERE applicant_ref = ?1",
                [applicant_ref.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        tx.execute(
            "INSERT INTO applicants (applicant_ref, name, id_number, phone, address, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (applicant_ref) DO UPDATE SET
                 name = excluded.name, id_number = excluded.id_number, phone = excluded.phone,
                 address = excluded.address, updated_at = excluded.updated_at",
            params![
                applicant_ref.as_str(),
                applicant.name.as_str(),
                applicant.id_number.as_str(),
                applicant.phone.as_ref().map(PhoneNumber::as_str),
                applicant.address.as_ref().map(Address::as_str),
                Timestamp::now().as_str(),
            ],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO recorded_by (applicant_ref, department) VALUES (?1, ?2)",
            [applicant_ref.as_str(), department],
        )?;
        tx.commit()?;
        Ok(!existed)
    }

    /// The record of `applicant_ref`, if there is one.
    pub fn get(
        &self,
        applicant_ref: &ApplicantRef,
    ) -> Result<Option<ApplicantRecord>, PersonalError> {
        let conn = self.conn();
        let record = conn
            .query_row(
                "SELECT name, id_number, phone, address, updated_at
                 FROM applicants WHERE applicant_ref = ?1",
                [applicant_ref.as_str()],
                |row| {
                    Ok(ApplicantRecord {
                        applicant_ref: applicant_ref.clone(),
                        name: row.get(0)?,
                        id_number: row.get(1)?,
                        phone: row.get(2)?,
                        address: row.get(3)?,
                        updated_at: row.get(4)?,
                    })
                },
            )
            .optional()?;
        Ok(record)
    }

    /// Whether `department` recorded `applicant_ref` (and it is not erased).
    pub fn recorded_by(
        &self,
        applicant_ref: &ApplicantRef,
        department: &str,
    ) -> Result<bool, PersonalError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT 1 FROM recorded_by WHERE applicant_ref = ?1 AND department = ?2",
                [applicant_ref.as_str(), department],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Erases the record of `applicant_ref`; with `secure_delete` its bytes
    /// are overwritten in the file before the call returns. Returns whether
    /// there was one.
    pub fn erase(&self, applicant_ref: &ApplicantRef) -> Result<bool, PersonalError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let rows = tx.execute(
            "DELETE FROM applicants WHERE applicant_ref = ?1",
            [applicant_ref.as_str()],
        )?;
        tx.execute(
            "DELETE FROM recorded_by WHERE applicant_ref = ?1",
            [applicant_ref.as_str()],
        )?;
        tx.commit()?;
        Ok(rows > 0)
    }
}

/// The applicants' side of [`PrivateData`]: the reference key and the store,
/// with async calls that run the store on the blocking pool.
#[derive(Debug)]
pub struct Applicants {
    key: SecretKey,
    store: Arc<PersonalStore>,
    /// Erasures run one at a time (the record and its erasure event stay in
    /// one order).
    erasing: tokio::sync::Mutex<()>,
}

impl Applicants {
    pub fn new(key: SecretKey, store: PersonalStore) -> Self {
        Applicants {
            key,
            store: Arc::new(store),
            erasing: tokio::sync::Mutex::new(()),
        }
    }

    /// The reference of the person with `id`.
    pub fn reference(&self, id: &IdNumber) -> ApplicantRef {
        ApplicantRef(hex::encode(self.key.mac(id.as_str().as_bytes())))
    }

    /// The store's file (for operators and tests).
    pub fn database_path(&self) -> &Path {
        self.store.path()
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, PersonalError>
    where
        T: Send + 'static,
        F: FnOnce(&PersonalStore) -> Result<T, PersonalError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| PersonalError::Task(e.to_string()))?
    }

    /// Stores `applicant` as recorded by `department`; returns its reference
    /// and whether the record is new.
    pub async fn put(
        &self,
        applicant: Applicant,
        department: String,
    ) -> Result<(ApplicantRef, bool), PersonalError> {
        let r = self.reference(&applicant.id_number);
        let key = r.clone();
        let created = self
            .blocking(move |s| s.put(&key, &applicant, &department))
            .await?;
        Ok((r, created))
    }

    pub async fn get(&self, r: &ApplicantRef) -> Result<Option<ApplicantRecord>, PersonalError> {
        let r = r.clone();
        self.blocking(move |s| s.get(&r)).await
    }

    pub async fn recorded_by(
        &self,
        r: &ApplicantRef,
        department: &str,
    ) -> Result<bool, PersonalError> {
        let (r, d) = (r.clone(), department.to_owned());
        self.blocking(move |s| s.recorded_by(&r, &d)).await
    }

    /// Erases `r` after `before` succeeds (the caller's record of the
    /// erasure), holding the erasure lock across both. `None` if there is no
    /// such record (and `before` is not run).
    pub async fn erase_after<T, F>(
        &self,
        r: &ApplicantRef,
        before: F,
    ) -> Result<Option<T>, ApiError>
    where
        F: AsyncFnOnce() -> Result<T, ApiError>,
    {
        let _guard = self.erasing.lock().await;
        if self.get(r).await?.is_none() {
            return Ok(None);
        }
        let recorded = before().await?;
        let key = r.clone();
        self.blocking(move |s| s.erase(&key)).await?;
        Ok(Some(recorded))
    }
}

/// Everything the service keeps outside the log: the query-code key and the
/// applicants' key and store. Opened by `Service::open` from the data
/// directory.
#[derive(Debug)]
pub struct PrivateData {
    query_codes: QueryCodes,
    applicants: Applicants,
}

impl PrivateData {
    /// Opens `DIR/status.key`, `DIR/personal.key` (creating them at first
    /// start) and `DIR/personal.sqlite`.
    pub fn open(dir: &Path) -> Result<Self, PersonalError> {
        let query_codes = QueryCodes::new(SecretKey::load_or_create(&dir.join(STATUS_KEY_FILE))?);
        let key = SecretKey::load_or_create(&dir.join(PERSONAL_KEY_FILE))?;
        let store = PersonalStore::open(&dir.join(PERSONAL_DB_FILE))?;
        Ok(PrivateData {
            query_codes,
            applicants: Applicants::new(key, store),
        })
    }

    pub fn query_codes(&self) -> &QueryCodes {
        &self.query_codes
    }

    pub fn applicants(&self) -> &Applicants {
        &self.applicants
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hmac_hex(key: &[u8], data: &[u8]) -> String {
        hex::encode(hmac_sha256(key, data))
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231 §4.2, test case 1.
        assert_eq!(
            hmac_hex(&[0x0b; 20], b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // §4.3, test case 2: a key shorter than the output.
        assert_eq!(
            hmac_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // §4.7, test case 6: a key longer than the block, hashed first.
        assert_eq!(
            hmac_hex(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn crockford_encodes_most_significant_bits_first() {
        assert_eq!(crockford(&[0xff, 0xff], 3), "ZZZ");
        assert_eq!(crockford(&[0x00, 0x00], 3), "000");
        // 00001 00010 00010 0… → "122"
        assert_eq!(crockford(&[0b0000_1000, 0b1000_0100], 3), "122");
        assert_eq!(crockford(&[0; 32], 10).len(), 10);
    }

    #[test]
    fn query_codes_are_deterministic_and_checked_leniently_as_typed() {
        let codes = QueryCodes::new(SecretKey([7; 32]));
        let case = StreamId::new("case-2026-000123").expect("stream");
        let code = codes.code_for(&case);
        assert_eq!(code.as_str().len(), QueryCode::LEN);
        assert!(code.as_str().bytes().all(|b| CROCKFORD.contains(&b)));
        assert_eq!(code, codes.code_for(&case));
        assert!(codes.check(&case, code.as_str()));
        let typed = format!(
            "{}-{}",
            &code.as_str()[..5].to_lowercase(),
            &code.as_str()[5..]
        );
        assert!(codes.check(&case, &typed));
        let other = StreamId::new("case-2026-000124").expect("stream");
        assert_ne!(codes.code_for(&other), code);
        assert!(!codes.check(&other, code.as_str()));
        assert!(!codes.check(&case, &code.as_str()[..9]));
        assert!(!codes.check(&case, &format!("{code}0")));
        assert!(!codes.check(&case, ""));
        assert!(!codes.check(&case, "UUUUUUUUUU"));
        // Another key, other codes.
        assert_ne!(QueryCodes::new(SecretKey([8; 32])).code_for(&case), code);
        assert_eq!(
            QueryCode::normalize("oil0o-oil0o").map(|c| c.0),
            Some("0110001100".into())
        );
    }

    /// The check character GB 11643-1999 gives `first17`.
    fn with_check(first17: &str) -> String {
        let sum: u32 = first17
            .bytes()
            .zip(IdNumber::WEIGHTS)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        format!(
            "{first17}{}",
            char::from(IdNumber::CHECK[(sum % 11) as usize])
        )
    }

    #[test]
    fn id_numbers_follow_gb_11643() {
        // The standard's own example.
        assert_eq!(
            IdNumber::parse("11010519491231002X")
                .expect("valid")
                .as_str(),
            "11010519491231002X"
        );
        assert_eq!(
            IdNumber::parse(" 110105 19491231 002x ")
                .expect("normalized")
                .as_str(),
            "11010519491231002X"
        );
        let good = with_check("53040219900101123");
        IdNumber::parse(&good).expect("valid");
        let mut bad = good.clone().into_bytes();
        bad[17] = if bad[17] == b'0' { b'1' } else { b'0' };
        let e = IdNumber::parse(&String::from_utf8(bad).expect("ascii")).expect_err("check");
        assert_eq!(e.field, "id_number");
        assert!(e.reason.contains("check"), "{e}");
        for wrong in [
            "",
            "1234",
            "11010519491231002",
            "1101051949123100XX",
            "110105194913310021",
        ] {
            assert!(IdNumber::parse(wrong).is_err(), "{wrong}");
        }
        // A date of birth that is not a date.
        assert!(IdNumber::parse(&with_check("11010519490231002")).is_err());
    }

    #[test]
    fn record_fields_are_validated_naming_the_field() {
        PhoneNumber::parse("138 0000 0000").expect("mobile");
        PhoneNumber::parse("0877-2012345").expect("landline");
        PhoneNumber::parse("+86 13800000000").expect("international");
        assert_eq!(
            PhoneNumber::parse("12345").expect_err("short").field,
            "phone"
        );
        assert_eq!(
            PhoneNumber::parse("138-abc").expect_err("letters").field,
            "phone"
        );
        assert_eq!(PersonName::parse("  ").expect_err("blank").field, "name");
        assert_eq!(PersonName::parse("张三").expect("name").as_str(), "张三");
        assert_eq!(
            PersonName::parse("a\u{7}b").expect_err("control").field,
            "name"
        );
        assert_eq!(
            Address::parse(&"路".repeat(201)).expect_err("long").field,
            "address"
        );
        assert!("ABC".parse::<ApplicantRef>().is_err());
        assert!("A".repeat(64).parse::<ApplicantRef>().is_err());
        assert!("a".repeat(64).parse::<ApplicantRef>().is_ok());
    }

    #[test]
    fn keys_are_created_private_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.key");
        let a = SecretKey::load_or_create(&path).expect("created");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = SecretKey::load_or_create(&path).expect("read");
        assert_eq!(a.0, b.0);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            SecretKey::load_or_create(&path),
            Err(PersonalError::Key { .. })
        ));
        let short = dir.path().join("short.key");
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&short)
            .and_then(|mut f| f.write_all(b"short"))
            .expect("write");
        assert!(matches!(
            SecretKey::load_or_create(&short),
            Err(PersonalError::Key { .. })
        ));
    }

    #[test]
    fn the_store_puts_reads_and_erases_leaving_no_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = PersonalStore::open(&dir.path().join(PERSONAL_DB_FILE)).expect("open");
        let applicants = Applicants::new(SecretKey([1; 32]), store);
        let id = IdNumber::parse(&with_check("53040219900101123")).expect("id");
        let person = Applicant {
            name: PersonName::parse("独特名字甲乙").expect("name"),
            id_number: id.clone(),
            phone: Some(PhoneNumber::parse("13800000000").expect("phone")),
            address: None,
        };
        let r = applicants.reference(&id);
        assert_eq!(r.as_str().len(), 64);
        assert_eq!(r, applicants.reference(&id), "same person, same reference");
        let s = &applicants.store;
        let needle = "独特名字甲乙".as_bytes();
        let holds = |needle: &[u8]| {
            let bytes = fs::read(s.path()).expect("file");
            bytes.windows(needle.len()).any(|w| w == needle)
        };
        assert!(s.put(&r, &person, "dept-a").expect("put"));
        assert!(holds(needle), "the record is in the file before erasure");
        assert!(!s.put(&r, &person, "dept-b").expect("again"));
        assert!(s.recorded_by(&r, "dept-a").expect("a"));
        assert!(s.recorded_by(&r, "dept-b").expect("b"));
        assert!(!s.recorded_by(&r, "dept-c").expect("c"));
        let got = s.get(&r).expect("get").expect("found");
        assert_eq!(got.name, "独特名字甲乙");
        assert_eq!(got.phone.as_deref(), Some("13800000000"));
        assert!(s.erase(&r).expect("erase"));
        assert!(!s.erase(&r).expect("erase again"));
        assert!(s.get(&r).expect("get").is_none());
        assert!(!s.recorded_by(&r, "dept-a").expect("a"));
        assert!(!holds(needle), "the name's bytes are overwritten");
        assert!(!holds(id.as_str().as_bytes()), "so are the ID number's");
    }
}
