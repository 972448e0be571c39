//! `ledger verify --data DIR`: a full audit of a store on disk.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ledger::audit::verify_store;
use ledger::store::sqlite::SqliteStore;

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[arg(long, env = "LEDGER_DATA")]
    data: PathBuf,
}

pub async fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let data = args.data;
    let pub_path = data.join("ledger.pub");
    let text = std::fs::read_to_string(&pub_path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", pub_path.display()))?;
    let key = ledger::note::NoteVerifier::from_verifier_key_string(text.trim())?;
    let store = SqliteStore::open_for_audit(&data.join("ledger.sqlite"))?;
    match verify_store(&store, &key, |_| {}).await? {
        Ok(summary) => {
            println!(
                "✓ {} entries, {} checkpoints, {} keys: every entry, link, signature, tree hash and checkpoint verified",
                summary.entries, summary.checkpoints, summary.keys
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(problem) => {
            println!("✗ {problem}");
            Ok(ExitCode::from(1))
        }
    }
}
