//! A ledger data directory: the ledger's signing key and the embedded store.
//!
//! Layout:
//! - `ledger.key` — the C2SP signed-note private key (`PRIVATE+KEY+…`),
//!   created on first use, mode 0600; refused if others can read it.
//! - `ledger.pub` — the signed-note verifier key, for anyone.
//! - `ledger.sqlite` (+ `-wal`, `-shm`) — the embedded store.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::note::NoteSigner;
use crate::store::sqlite::{SqliteConfig, SqliteStore};

/// The checkpoint origin used when none is given.
pub const DEFAULT_ORIGIN: &str = "ledger.localhost/public-service-log";

/// An initialised data directory.
pub struct DataDir {
    path: PathBuf,
    signer: NoteSigner,
}

impl DataDir {
    /// Opens `dir`, initialising it on first use with a new ledger key for
    /// `origin` (default [`DEFAULT_ORIGIN`]). An existing directory keeps
    /// its key; asking for a different origin than it has is an error.
    pub fn open_or_init(dir: &Path, origin: Option<&str>) -> Result<Self, Error> {
        let io = |what: &str, e: std::io::Error| Error::Storage {
            reason: format!("{what} {}: {e}", dir.display()),
        };
        fs::create_dir_all(dir).map_err(|e| io("creating", e))?;
        let key_path = dir.join("ledger.key");
        let signer = if key_path.exists() {
            let meta = fs::metadata(&key_path).map_err(|e| io("reading", e))?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(Error::Storage {
                    reason: format!(
                        "{} is readable by others (mode {:o}); it must be 0600",
                        key_path.display(),
                        meta.permissions().mode() & 0o777
                    ),
                });
            }
            let text = fs::read_to_string(&key_path).map_err(|e| io("reading", e))?;
            let signer =
                NoteSigner::from_signer_key_string(text.trim()).map_err(|e| Error::Storage {
                    reason: format!("{}: {e}", key_path.display()),
                })?;
            if let Some(origin) = origin
                && origin != signer.name()
            {
                return Err(Error::Storage {
                    reason: format!(
                        "{} holds the log {:?}, not {origin:?}",
                        dir.display(),
                        signer.name()
                    ),
                });
            }
            signer
        } else {
            let name = origin.unwrap_or(DEFAULT_ORIGIN);
            let signer = NoteSigner::generate(name).map_err(|e| Error::Storage {
                reason: format!("origin {name:?}: {e}"),
            })?;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&key_path)
                .map_err(|e| io("creating key in", e))?;
            writeln!(f, "{}", signer.to_signer_key_string())
                .map_err(|e| io("writing key in", e))?;
            f.sync_all().map_err(|e| io("syncing key in", e))?;
            fs::write(
                dir.join("ledger.pub"),
                format!("{}\n", signer.verifier().to_verifier_key_string()),
            )
            .map_err(|e| io("writing public key in", e))?;
            signer
        };
        Ok(DataDir {
            path: dir.to_owned(),
            signer,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn signer(&self) -> &NoteSigner {
        &self.signer
    }

    pub fn store_path(&self) -> PathBuf {
        self.path.join("ledger.sqlite")
    }

    /// Opens the embedded store in this directory.
    pub fn open_store(&self, config: SqliteConfig) -> Result<SqliteStore, Error> {
        SqliteStore::open(&self.store_path(), self.signer.clone(), config)
    }
}
