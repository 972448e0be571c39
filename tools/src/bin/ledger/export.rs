//! `ledger export` (issue 5; being built).

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum ExportCommand {}

pub async fn run(_what: ExportCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ledger export` is not built yet")
}
