//! SQLite's own page cache, with one per-commit cost taken out.
//!
//! Every COMMIT ends with SQLite dropping the cached pages past the end of
//! the database (`pager_end_transaction` → the page cache's `xTruncate`
//! with the new page count + 1). The default cache (`pcache1`) skips that
//! when no page it ever held lies at or past the limit; it remembers the
//! highest page number it held (`iMaxKey`). But when a B-tree split puts
//! its new sibling pages in order (`balance_nonroot`), SQLite parks one of
//! them for a moment at the lock-byte page's number (page 262,145 with
//! 4 KiB pages, 1 GiB / page size + 1) and that raises `iMaxKey` for good.
//! From then on every COMMIT walks the whole cache: every hash slot and
//! every cached page. The writer's 64 MiB cache holds up to 16,384 pages,
//! and page splits happen in almost every group, so a busy store paid that
//! walk in almost every commit (about 8 % of the writer's time in
//! `ledger bench`, on a store of 20,000 events whose cache was far from
//! full).
//!
//! [`install`] puts a thin wrapper in front of the default cache. It
//! passes every call through and keeps its own bound on the page numbers
//! present: the highest one fetched or moved to, except that a page parked
//! at the lock-byte number is counted apart until it moves away. A
//! truncation whose limit lies past that bound, with no page parked, is
//! answered without the walk: there is nothing at or past the limit to
//! drop. Everything else goes to the default cache unchanged.
//!
//! What this module deliberately does not do: cache pages itself, change
//! what SQLite reads or writes, or touch any connection opened before it
//! was installed (SQLite takes a page cache only before it initialises;
//! [`install`] must run before the process opens its first connection, and
//! says whether it did).

use std::ffi::{c_int, c_uint};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::ffi;

/// SQLite's lock-byte offset (`PENDING_BYTE`, 1 GiB): the page holding it
/// is never used, and `balance_nonroot` borrows its number to swap pages.
const PENDING_BYTE: u32 = 0x4000_0000;

/// Installs the wrapped page cache for the whole process. Call it before
/// any SQLite connection is opened (the `ledger` binary does so first thing
/// in `main`); from then on it is a no-op. Returns whether the wrapper is
/// in place: `false` when SQLite was already initialised (it then keeps
/// its default cache, which is correct, only slower).
pub fn install() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let mut default = ffi::sqlite3_pcache_methods2 {
            iVersion: 0,
            pArg: std::ptr::null_mut(),
            xInit: None,
            xShutdown: None,
            xCreate: None,
            xCachesize: None,
            xPagecount: None,
            xFetch: None,
            xUnpin: None,
            xRekey: None,
            xTruncate: None,
            xDestroy: None,
            xShrink: None,
        };
        // SAFETY: GETPCACHE2 copies the configured methods into `default`,
        // a valid struct of the type SQLite expects.
        let rc = unsafe {
            ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_GETPCACHE2,
                &mut default as *mut ffi::sqlite3_pcache_methods2,
            )
        };
        if rc != ffi::SQLITE_OK || !Methods::complete(&default) {
            return false;
        }
        let inner = DEFAULT.get_or_init(|| Methods(default));
        let wrapper = ffi::sqlite3_pcache_methods2 {
            iVersion: inner.0.iVersion,
            pArg: inner.0.pArg,
            xInit: inner.0.xInit,
            xShutdown: inner.0.xShutdown,
            xCreate: Some(create),
            xCachesize: Some(cachesize),
            xPagecount: Some(pagecount),
            xFetch: Some(fetch),
            xUnpin: Some(unpin),
            xRekey: Some(rekey),
            xTruncate: Some(truncate),
            xDestroy: Some(destroy),
            xShrink: Some(shrink),
        };
        // SAFETY: SQLite copies the struct; it refuses (SQLITE_MISUSE) once
        // initialised, in which case nothing changes.
        let rc = unsafe {
            ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_PCACHE2,
                &wrapper as *const ffi::sqlite3_pcache_methods2,
            )
        };
        rc == ffi::SQLITE_OK
    })
}

/// Truncations answered without the walk the default cache would have
/// made, since the process started (all caches): what the wrapper saved.
pub fn walks_skipped() -> u64 {
    SKIPPED.load(Ordering::Relaxed)
}

static SKIPPED: AtomicU64 = AtomicU64::new(0);

/// The default cache's methods, as SQLite gave them.
struct Methods(ffi::sqlite3_pcache_methods2);

// SAFETY: the struct holds function pointers and SQLite's own `pArg`
// (null for pcache1); SQLite calls these methods from any thread.
unsafe impl Send for Methods {}
unsafe impl Sync for Methods {}

impl Methods {
    fn complete(m: &ffi::sqlite3_pcache_methods2) -> bool {
        m.xCreate.is_some()
            && m.xCachesize.is_some()
            && m.xPagecount.is_some()
            && m.xFetch.is_some()
            && m.xUnpin.is_some()
            && m.xRekey.is_some()
            && m.xTruncate.is_some()
            && m.xDestroy.is_some()
    }
}

static DEFAULT: OnceLock<Methods> = OnceLock::new();

fn default() -> &'static ffi::sqlite3_pcache_methods2 {
    // Invariant: the wrapper's methods are only ever installed after
    // DEFAULT is set, so SQLite cannot call them before.
    &DEFAULT.get().expect("page cache wrapper installed").0
}

/// One cache (one per connection and database file).
struct Wrapped {
    inner: *mut ffi::sqlite3_pcache,
    /// The lock-byte page's number at this cache's page size.
    parking: c_uint,
    /// No page numbered above this is in the cache, parked pages aside.
    bound: c_uint,
    /// Pages currently parked at `parking` by a move.
    parked: c_uint,
    /// The default cache's own bound (`iMaxKey`), parked pages included:
    /// a truncation below it is one the default would walk for.
    default_bound: c_uint,
}

/// # Safety
/// `p` is a cache this module's `create` returned and `destroy` has not
/// freed; SQLite serialises the calls on one cache.
unsafe fn wrapped<'a>(p: *mut ffi::sqlite3_pcache) -> &'a mut Wrapped {
    unsafe { &mut *(p as *mut Wrapped) }
}

unsafe extern "C" fn create(
    sz_page: c_int,
    sz_extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    // Invariant (for every `expect` below): `install` checked that the
    // default has every method it forwards to.
    let inner = unsafe { default().xCreate.expect("xCreate")(sz_page, sz_extra, purgeable) };
    if inner.is_null() {
        return inner;
    }
    let page = c_uint::try_from(sz_page.max(1)).unwrap_or(1);
    let cache = Box::new(Wrapped {
        inner,
        parking: PENDING_BYTE / page + 1,
        bound: 0,
        parked: 0,
        default_bound: 0,
    });
    Box::into_raw(cache) as *mut ffi::sqlite3_pcache
}

unsafe extern "C" fn cachesize(p: *mut ffi::sqlite3_pcache, n: c_int) {
    unsafe { default().xCachesize.expect("xCachesize")(wrapped(p).inner, n) }
}

unsafe extern "C" fn pagecount(p: *mut ffi::sqlite3_pcache) -> c_int {
    unsafe { default().xPagecount.expect("xPagecount")(wrapped(p).inner) }
}

unsafe extern "C" fn fetch(
    p: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    let cache = unsafe { wrapped(p) };
    let page = unsafe { default().xFetch.expect("xFetch")(cache.inner, key, create) };
    // Counted even when only found: found pages lie within the bound.
    if !page.is_null() {
        cache.bound = cache.bound.max(key);
        cache.default_bound = cache.default_bound.max(key);
    }
    page
}

unsafe extern "C" fn unpin(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    unsafe { default().xUnpin.expect("xUnpin")(wrapped(p).inner, page, discard) }
}

unsafe extern "C" fn rekey(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    let cache = unsafe { wrapped(p) };
    unsafe { default().xRekey.expect("xRekey")(cache.inner, page, old, new) };
    cache.default_bound = cache.default_bound.max(new);
    if old == cache.parking && cache.parked > 0 {
        cache.parked -= 1;
    }
    if new == cache.parking && new > cache.bound {
        cache.parked += 1;
    } else if new > cache.bound {
        cache.bound = new;
    }
}

unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    let cache = unsafe { wrapped(p) };
    if cache.parked == 0 && limit > cache.bound {
        // Nothing at or past `limit` is cached: the walk would drop nothing.
        if limit <= cache.default_bound {
            SKIPPED.fetch_add(1, Ordering::Relaxed);
        }
        return;
    }
    unsafe { default().xTruncate.expect("xTruncate")(cache.inner, limit) };
    if limit <= cache.default_bound {
        cache.default_bound = limit.saturating_sub(1);
    }
    // Every page numbered `limit` or more is gone now, parked ones too
    // when they were at or past it.
    if limit > 0 {
        cache.bound = cache.bound.min(limit - 1);
    } else {
        cache.bound = 0;
    }
    if limit <= cache.parking {
        cache.parked = 0;
    }
}

unsafe extern "C" fn destroy(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: `p` came from `Box::into_raw` in `create`; SQLite destroys a
    // cache once and calls nothing on it afterwards.
    let cache = unsafe { Box::from_raw(p as *mut Wrapped) };
    unsafe { default().xDestroy.expect("xDestroy")(cache.inner) }
}

unsafe extern "C" fn shrink(p: *mut ffi::sqlite3_pcache) {
    if let Some(x) = default().xShrink {
        unsafe { x(wrapped(p).inner) }
    }
}

#[cfg(test)]
mod tests {
    // The wrapper is process-wide and must come before SQLite initialises,
    // which a unit test in a shared test binary cannot promise; its tests
    // are the `page_cache` integration test binary.
    use super::PENDING_BYTE;

    #[test]
    fn the_parking_page_is_the_lock_byte_page() {
        // 4 KiB pages: 1 GiB / 4096 + 1, the number seen in pcache1 iMaxKey.
        assert_eq!(PENDING_BYTE / 4096 + 1, 262_145);
    }
}
