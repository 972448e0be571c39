//! `ledger catalog` (issue 5; being built).

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum CatalogCommand {}

pub async fn run(_action: CatalogCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ledger catalog` is not built yet")
}
