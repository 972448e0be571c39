//! `ledger keygen` (issue 5; being built).

use std::process::ExitCode;

use clap::Args;

#[derive(Args, Debug)]
pub struct KeygenArgs {}

pub async fn run(_args: KeygenArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ledger keygen` is not built yet")
}
