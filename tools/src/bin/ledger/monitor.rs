//! `ledger monitor` (issue 5; being built).

use std::process::ExitCode;

use clap::Args;

#[derive(Args, Debug)]
pub struct MonitorArgs {}

pub async fn run(_args: MonitorArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ledger monitor` is not built yet")
}
