//! Where the machine's CPU went during a timed run, read from Linux's
//! `/proc` (proc(5): `/proc/stat` for the whole machine, `/proc/PID/stat`
//! fields 14 and 15, `utime` and `stime`, for one process).
//!
//! The PostgreSQL bench sets the load against the database's own insert
//! rate; on a small machine the service, PostgreSQL and the load generator
//! share the same cores, and this tells how each spent them. PostgreSQL is
//! every process named `postgres` (its backends, writers and checkpointer).
//!
//! Deliberately not here: anything but Linux (`Sample::take` gives `None`
//! and the bench prints no breakdown), per-thread figures, sampling during
//! the run.

use std::collections::HashMap;
use std::time::Instant;

/// CPU counters at one moment.
pub struct Sample {
    at: Instant,
    /// Jiffies the machine spent busy (all but idle and iowait), all cores.
    busy: u64,
    /// Jiffies of each `ledger serve` process (by the order given).
    servers: Vec<u64>,
    /// This process (the load generator).
    client: u64,
    /// Every `postgres` process, by pid.
    postgres: HashMap<u32, u64>,
}

/// The CPU each part used between two samples, in seconds of one core.
pub struct CpuUse {
    pub wall: f64,
    pub cores: usize,
    pub busy: f64,
    pub servers: f64,
    pub client: f64,
    pub postgres: f64,
}

impl CpuUse {
    /// What nothing named above used: the kernel's network work on other
    /// threads, other services.
    pub fn other(&self) -> f64 {
        (self.busy - self.servers - self.client - self.postgres).max(0.0)
    }

    /// Busy share of every core.
    pub fn busy_share(&self) -> f64 {
        self.busy / (self.wall * self.cores as f64)
    }
}

impl Sample {
    /// Reads the counters now; `None` where `/proc` cannot be read.
    pub fn take(servers: &[u32]) -> Option<Sample> {
        let busy = machine_busy()?;
        let servers = servers
            .iter()
            .map(|&pid| process_jiffies(&format!("/proc/{pid}/stat")))
            .collect::<Option<Vec<_>>>()?;
        let client = process_jiffies("/proc/self/stat")?;
        let mut postgres = HashMap::new();
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            // A process may end between listing and reading: skipped.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            if let Some(("postgres", jiffies)) = parse_stat(&stat) {
                postgres.insert(pid, jiffies);
            }
        }
        Some(Sample {
            at: Instant::now(),
            busy,
            servers,
            client,
            postgres,
        })
    }

    /// What was used from `before` to this sample.
    pub fn since(&self, before: &Sample) -> CpuUse {
        let secs = |jiffies: u64| jiffies as f64 / clock_ticks();
        // A postgres process that started in between counts from zero; one
        // that ended in between is lost (a bench keeps its connections).
        let postgres: u64 = self
            .postgres
            .iter()
            .map(|(pid, now)| now.saturating_sub(before.postgres.get(pid).copied().unwrap_or(0)))
            .sum();
        CpuUse {
            wall: self.at.duration_since(before.at).as_secs_f64(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            busy: secs(self.busy.saturating_sub(before.busy)),
            servers: secs(
                self.servers
                    .iter()
                    .zip(&before.servers)
                    .map(|(a, b)| a.saturating_sub(*b))
                    .sum(),
            ),
            client: secs(self.client.saturating_sub(before.client)),
            postgres: secs(postgres),
        }
    }
}

/// Clock ticks per second, as `/proc` counts them (`sysconf(_SC_CLK_TCK)`).
fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// The first line of `/proc/stat`: `cpu user nice system idle iowait irq
/// softirq steal …`; busy is everything but idle and iowait.
fn machine_busy() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_machine_busy(&stat)
}

fn parse_machine_busy(stat: &str) -> Option<u64> {
    let line = stat.lines().next()?;
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let values: Vec<u64> = fields.map(|f| f.parse().ok()).collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is already
    // inside user and nice).
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    Some(total - idle)
}

fn process_jiffies(path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    parse_stat(&stat).map(|(_, jiffies)| jiffies)
}

/// `(comm, utime + stime)` of a `/proc/PID/stat` line. The command name
/// is in parentheses and may itself hold spaces and parentheses, so the
/// fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<(&str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    // After ")": state (field 3), …, utime (14), stime (15).
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let utime: u64 = rest.nth(11)?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    Some((comm, utime + stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_process_stat_line_with_an_awkward_name() {
        // proc(5) layout; the name holds a space and a parenthesis.
        let line = "4242 (post gres) x) S 1 4242 4242 0 -1 4194560 510 0 0 0 \
                    120 35 0 0 20 0 1 0 123 456 789";
        assert_eq!(parse_stat(line), Some(("post gres) x", 155)));
        assert_eq!(parse_stat("4242 (cut short) S 1 2"), None);
    }

    #[test]
    fn machine_busy_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 5 50 1000 40 3 2 1 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(parse_machine_busy(stat), Some(100 + 5 + 50 + 3 + 2 + 1));
        assert_eq!(parse_machine_busy("intr 1 2 3\n"), None);
    }

    #[test]
    fn this_process_is_counted() {
        // Burn a little CPU between two samples: the client share grows.
        let before = Sample::take(&[]).expect("/proc is readable on Linux");
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed().as_millis() < 200 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let used = Sample::take(&[]).expect("readable").since(&before);
        assert!(used.client >= 0.1, "client used {} s", used.client);
        assert!(used.busy >= used.client * 0.5, "busy {} s", used.busy);
    }
}
