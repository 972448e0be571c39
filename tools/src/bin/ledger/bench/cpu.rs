//! Where the machine's CPU went during a timed run, read from Linux's
//! `/proc` (proc(5): `/proc/stat` for the whole machine, `/proc/PID/stat`
//! fields 14 and 15, `utime` and `stime`, for one process, and
//! `/proc/self/task/TID/stat` for one thread of this one).
//!
//! The PostgreSQL bench sets the load against the database's own insert
//! rate; on a small machine the service, PostgreSQL and the load generator
//! share the same cores, and this tells how each spent them. PostgreSQL is
//! every process named `postgres` (its backends, writers and checkpointer).
//! The embedded bench runs the store, the service and the load client in
//! one process; [`ThreadSample`] splits that process by the names its
//! threads are given ([`Part`]).
//!
//! Deliberately not here: anything but Linux (`take` gives `None` and the
//! bench prints no breakdown), sampling during the run. Counts are in clock
//! ticks (10 ms at the usual 100 Hz), so a part of a short run is known to
//! about a tick per thread.

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
#[derive(Clone, Debug)]
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
        for (pid, stat) in stat_files("/proc")? {
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

/// A part of the embedded bench's process, told by its threads' names
/// (Linux keeps the first 15 bytes of a name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// `bench-server`: the service's runtime in the HTTP runs, its workers
    /// and blocking threads (handlers, JSON, reads, and the read-model
    /// projector, as under `ledger serve`); the floor's server in the
    /// transport floor runs.
    Http,
    /// `tokio-rt-worker`: the bench's own runtime, which runs the
    /// in-process appenders and, in the in-service runs, the service with
    /// its read-model projector.
    Runtime,
    /// `ledger-sigcheck-N`: batch signature verification.
    Signatures,
    /// `ledger-sqlite-writer`: sequencing, SQLite inserts, tree nodes.
    Writer,
    /// `ledger-sqlite-syncer` and `-checkpointer`: fsync, WAL checkpoints.
    Disk,
    /// `bench-client`: the HTTP load client.
    Client,
    /// Any other thread of the process.
    Rest,
}

impl Part {
    /// Every part, in the order the bench prints them.
    pub const ALL: [Part; 7] = [
        Part::Http,
        Part::Runtime,
        Part::Signatures,
        Part::Writer,
        Part::Disk,
        Part::Client,
        Part::Rest,
    ];

    /// The part a thread of this name belongs to.
    pub fn of(comm: &str) -> Part {
        if comm.starts_with("bench-server") {
            Part::Http
        } else if comm.starts_with("tokio-rt-worker") {
            Part::Runtime
        } else if comm.starts_with("ledger-sigcheck") {
            Part::Signatures
        } else if comm.starts_with("ledger-sqlite-w") {
            Part::Writer
        } else if comm.starts_with("ledger-sqlite-s") || comm.starts_with("ledger-sqlite-c") {
            Part::Disk
        } else if comm.starts_with("bench-client") {
            Part::Client
        } else {
            Part::Rest
        }
    }

    fn slot(self) -> usize {
        Part::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
}

/// This process's threads' counters, and the machine's, at one moment.
pub struct ThreadSample {
    at: Instant,
    busy: u64,
    /// Jiffies of each thread, by thread id, with its part.
    threads: HashMap<u32, (Part, u64)>,
}

/// What each part of this process, and the machine, used between two
/// [`ThreadSample`]s, in seconds of one core.
#[derive(Clone, Debug)]
pub struct ThreadUse {
    pub wall: f64,
    pub cores: usize,
    pub busy: f64,
    /// Seconds by part, in [`Part::ALL`]'s order.
    pub parts: [f64; 7],
}

impl ThreadUse {
    /// Seconds of one core used by `part`.
    pub fn of(&self, part: Part) -> f64 {
        self.parts[part.slot()]
    }

    /// What the machine spent outside this process (other services, the
    /// kernel's own threads).
    pub fn outside(&self) -> f64 {
        (self.busy - self.parts.iter().sum::<f64>()).max(0.0)
    }

    /// Everything counted: this process's parts and the rest of the
    /// machine. (The machine's and the threads' counters tick apart, so
    /// the parts can exceed the machine's busy time by a tick or two.)
    pub fn total(&self) -> f64 {
        self.parts.iter().sum::<f64>() + self.outside()
    }

    /// Busy share of every core.
    pub fn busy_share(&self) -> f64 {
        self.busy / (self.wall * self.cores as f64)
    }
}

impl ThreadSample {
    /// Reads the counters now; `None` where `/proc` cannot be read.
    pub fn take() -> Option<ThreadSample> {
        let busy = machine_busy()?;
        let mut threads = HashMap::new();
        for (tid, stat) in stat_files("/proc/self/task")? {
            if let Some((comm, jiffies)) = parse_stat(&stat) {
                threads.insert(tid, (Part::of(comm), jiffies));
            }
        }
        Some(ThreadSample {
            at: Instant::now(),
            busy,
            threads,
        })
    }

    /// What was used from `before` to this sample. A thread started in
    /// between counts from zero; one that ended in between is lost.
    pub fn since(&self, before: &ThreadSample) -> ThreadUse {
        let secs = |jiffies: u64| jiffies as f64 / clock_ticks();
        let mut parts = [0.0; 7];
        for (tid, (part, now)) in &self.threads {
            let then = before.threads.get(tid).map_or(0, |(_, j)| *j);
            parts[part.slot()] += secs(now.saturating_sub(then));
        }
        ThreadUse {
            wall: self.at.duration_since(before.at).as_secs_f64(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            busy: secs(self.busy.saturating_sub(before.busy)),
            parts,
        }
    }
}

/// Clock ticks per second, as `/proc` counts them (`sysconf(_SC_CLK_TCK)`):
/// one tick is the resolution of every figure here.
pub fn clock_ticks() -> f64 {
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

/// The `stat` file of every numbered entry of `dir` (`/proc`: processes;
/// `/proc/self/task`: this process's threads), by number. One that ends
/// between listing and reading is skipped.
fn stat_files(dir: &str) -> Option<Vec<(u32, String)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let Some(id) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
            out.push((id, stat));
        }
    }
    Some(out)
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
    fn threads_are_told_apart_by_their_names() {
        // As Linux shows them: cut to 15 bytes.
        assert_eq!(Part::of("ledger-sigcheck"), Part::Signatures);
        assert_eq!(Part::of("ledger-sqlite-w"), Part::Writer);
        assert_eq!(Part::of("ledger-sqlite-s"), Part::Disk);
        assert_eq!(Part::of("ledger-sqlite-c"), Part::Disk);
        assert_eq!(Part::of("bench-server"), Part::Http);
        assert_eq!(Part::of("bench-client"), Part::Client);
        assert_eq!(Part::of("tokio-rt-worker"), Part::Runtime);
        assert_eq!(Part::of("ledger"), Part::Rest);
        for (i, part) in Part::ALL.iter().enumerate() {
            assert_eq!(part.slot(), i);
        }
    }

    #[test]
    fn a_named_thread_is_counted_in_its_part() {
        // A thread named as the writer burns CPU between two samples; the
        // writer's part grows by about that much, and not the client's.
        let before = ThreadSample::take().expect("/proc is readable on Linux");
        std::thread::Builder::new()
            .name("ledger-sqlite-writer".into())
            .spawn(move || {
                // Spins until it has had 0.2 s of a core, however long a
                // busy machine (a CI run's other tests) takes to give it,
                // sampling before it ends: a finished thread's ticks are
                // gone.
                let t = Instant::now();
                let mut x = 0u64;
                let used = loop {
                    let chunk = Instant::now();
                    while chunk.elapsed().as_millis() < 50 {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    }
                    let used = ThreadSample::take().expect("readable").since(&before);
                    if used.of(Part::Writer) >= 0.2 || t.elapsed().as_secs() >= 20 {
                        break used;
                    }
                };
                std::hint::black_box(x);
                assert!(used.of(Part::Writer) >= 0.15, "writer {:?}", used);
                assert!(used.of(Part::Client) < 0.05, "client {:?}", used);
                assert!(used.busy >= used.of(Part::Writer) * 0.5, "{used:?}");
            })
            .expect("spawn")
            .join()
            .expect("the sampling thread's checks pass");
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
