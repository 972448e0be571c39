//! `ledger append` (issue 5; being built).

use std::process::ExitCode;

use clap::Args;

#[derive(Args, Debug)]
pub struct AppendArgs {}

pub async fn run(_args: AppendArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ledger append` is not built yet")
}
