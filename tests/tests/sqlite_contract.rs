//! The contract suite against the embedded SQLite store, on real files.

use std::sync::{Arc, Mutex};

use ledger::Store;
use ledger::datadir::DataDir;
use ledger::note::NoteVerifier;
use ledger::store::sqlite::{SqliteConfig, SqliteStore};
use tests::contract::Backend;

struct Sqlite {
    _dir: tempfile::TempDir,
    data: DataDir,
    open: Mutex<Option<SqliteStore>>,
}

fn sqlite() -> Sqlite {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataDir::open_or_init(dir.path(), Some("test.example/log")).expect("data dir");
    Sqlite {
        _dir: dir,
        data,
        open: Mutex::new(None),
    }
}

#[async_trait::async_trait]
impl Backend for Sqlite {
    async fn open(&self) -> Arc<dyn Store> {
        let store = self
            .data
            .open_store(SqliteConfig::default())
            .expect("open store");
        *self.open.lock().unwrap() = Some(store.clone());
        Arc::new(store)
    }

    async fn close(&self, store: Arc<dyn Store>) {
        drop(store);
        if let Some(s) = self.open.lock().unwrap().take() {
            s.close();
        }
    }

    fn log_key(&self) -> NoteVerifier {
        self.data.signer().verifier()
    }
}

tests::contract_suite!(sqlite());
