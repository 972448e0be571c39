//! The metrics recorder does not keep every latency sample it was given:
//! its upkeep folds them into the histograms' buckets whether or not
//! anyone scrapes `/metrics`.
//!
//! A test binary of its own, because it counts this process's live heap
//! bytes with a global allocator of its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::Method;

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the
// counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

#[test]
fn latency_samples_are_folded_in_without_a_scrape() {
    let handle = api::metrics::handle().expect("the first recorder installed in this process");
    // The series exist before the baseline is taken.
    api::metrics::record_request(&Method::POST, "/v1/streams/{stream}", 200, 0.001);
    let before = live();
    const SAMPLES: usize = 1_000_000;
    for i in 0..SAMPLES {
        api::metrics::record_request(&Method::POST, "/v1/streams/{stream}", 200, 1e-6 * i as f64);
    }
    let grown = live() - before;
    // Eight bytes a sample, at least, until folded in.
    assert!(
        grown >= (SAMPLES * 8) as isize,
        "{SAMPLES} samples held only {grown} bytes: the recorder does not keep them as expected"
    );
    // Upkeep folds them in within its interval (a few records drive the
    // freeing of the drained blocks, which is deferred).
    let deadline = Instant::now() + api::metrics::UPKEEP_INTERVAL * 10;
    let mut held = grown;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        api::metrics::record_request(&Method::POST, "/v1/streams/{stream}", 200, 0.001);
        held = live() - before;
        if held < grown / 8 {
            break;
        }
    }
    assert!(
        held < grown / 8,
        "{held} of {grown} bytes still held {:?} after the samples were recorded: no upkeep",
        api::metrics::UPKEEP_INTERVAL * 10
    );
    // Nothing was lost on the way: every sample is counted in the render.
    let text = handle.render();
    let count = text
        .lines()
        .find(|l| {
            l.starts_with("ledger_http_request_duration_seconds_count")
                && l.contains("route=\"/v1/streams/{stream}\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .expect("the duration histogram's count");
    assert!(
        count > SAMPLES as u64,
        "{count} samples counted, fewer than the {} recorded",
        SAMPLES + 1
    );
}
