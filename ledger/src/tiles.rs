//! C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>): tile and entry-bundle
//! paths, hash tiles and entry bundles.
//!
//! What this module deliberately does not do: no I/O and no HTTP (no
//! prefixes, content types, caching headers or compression), no checkpoints
//! (see [`crate::checkpoint`]), no pruning or minimum index, and no proof
//! computation from tiles (tiles hold [`NodeId`]s; [`crate::merkle`] proves).
//! It does not decide which partial tiles a log still serves: a partial tile
//! is valid for any tree size that contains all of its hashes.
//!
//! Model: a level-`L` tile holds hashes of tree level `8 * L`. Tile `N` of
//! width `W` is the `W` nodes `NodeId { level: 8 * L, index: 256 * N + i }`
//! for `i` in `0..W` (tlog-tiles "Merkle Tree": `MTH(D[(n * 256 + i) *
//! 256**l : (n * 256 + i + 1) * 256**l])`). Entry bundle `N` holds entries
//! `256 * N ..` with the same widths as level 0.

use std::fmt;
use std::fmt::Write as _;

use crate::merkle::{Hash, NodeId};

/// Tree levels spanned by one tile (tlog-tiles: "the entire subtree of
/// height 8").
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile, entries in a full bundle (tlog-tiles: "exactly 256
/// hashes wide").
pub const TILE_WIDTH: u64 = 256;
/// The highest tile level a path may name (tlog-tiles: `<L>` "between 0 and
/// 63"). Only levels 0 through 7 can hold nodes of a tree of `u64` size.
pub const MAX_TILE_LEVEL: u8 = 63;
/// The largest entry an entry bundle can hold (a big-endian `uint16` length).
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;

/// A hash tile: level, index within the level, and width (`1..=256`, 256
/// being a full tile).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    pub level: u8,
    pub index: u64,
    pub width: u16,
}

/// An entry bundle: index (in units of 256 entries) and width (`1..=256`,
/// 256 being a full bundle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryBundleId {
    pub index: u64,
    pub width: u16,
}

/// Either resource under `tile/`, as a server routes a request path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TileResource {
    Hashes(TileId),
    Entries(EntryBundleId),
}

/// Why a tile path, hash tile or entry bundle was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TileError {
    /// Not a canonical tlog-tiles path (`path` cut to 120 characters).
    #[error("bad tile path {path:?}: {reason}")]
    BadPath { path: String, reason: &'static str },
    /// Hash tile data that is not 1 to 256 whole 32-byte hashes.
    #[error("hash tile of {len} bytes: expected 1 to 256 hashes of 32 bytes")]
    BadHashTile { len: usize },
    /// An entry too long for its `uint16` length prefix.
    #[error("entry {index} is {size} bytes; bundle entries are at most 65535 bytes")]
    EntryTooLarge { index: usize, size: usize },
    /// More entries than a bundle holds.
    #[error("entry bundle has more than 256 entries")]
    TooManyEntries,
    /// A bundle with no entries: "Empty tiles MUST NOT be served".
    #[error("empty entry bundle")]
    EmptyBundle,
    /// A bundle ending inside a length prefix or an entry.
    #[error("entry bundle truncated in entry {index} at byte {offset}")]
    TruncatedBundle { index: usize, offset: usize },
}

impl TileId {
    /// Whether this is a full (256-hash) tile.
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The path below the log prefix: `tile/<L>/<N>[.p/<W>]`.
    ///
    /// A width outside `1..=256` (only constructible by hand) prints as
    /// `.p/<W>`, a path [`TileId::parse_path`] rejects.
    pub fn path(&self) -> String {
        let mut p = format!("tile/{}/", self.level);
        push_index_and_width(&mut p, self.index, self.width);
        p
    }

    /// Parses a canonical `tile/<L>/<N>[.p/<W>]` path (one leading `/` is
    /// tolerated).
    pub fn parse_path(path: &str) -> Result<TileId, TileError> {
        match parse_tile_resource(path)? {
            TileResource::Hashes(t) => Ok(t),
            TileResource::Entries(_) => Err(invalid(path, "an entry bundle, not a hash tile")),
        }
    }

    /// Whether every hash of this tile is a complete node of the tree of
    /// `tree_size`, i.e. whether the tile can be served for that size.
    pub fn fits(&self, tree_size: u64) -> bool {
        valid_width(self.width)
            && self.level <= MAX_TILE_LEVEL
            && end_of(self.index, self.width)
                .is_some_and(|end| end <= hashes_at_level(self.level, tree_size))
    }
}

impl EntryBundleId {
    /// Whether this is a full (256-entry) bundle.
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The path below the log prefix: `tile/entries/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let mut p = String::from("tile/entries/");
        push_index_and_width(&mut p, self.index, self.width);
        p
    }

    /// Parses a canonical `tile/entries/<N>[.p/<W>]` path (one leading `/`
    /// is tolerated).
    pub fn parse_path(path: &str) -> Result<EntryBundleId, TileError> {
        match parse_tile_resource(path)? {
            TileResource::Entries(b) => Ok(b),
            TileResource::Hashes(_) => Err(invalid(path, "a hash tile, not an entry bundle")),
        }
    }

    /// Whether every entry of this bundle is in the tree of `tree_size`.
    pub fn fits(&self, tree_size: u64) -> bool {
        valid_width(self.width) && end_of(self.index, self.width).is_some_and(|e| e <= tree_size)
    }
}

/// Parses a canonical path below `tile/`: a hash tile or an entry bundle.
/// One leading `/` is tolerated, so request paths parse as they come.
pub fn parse_tile_resource(path: &str) -> Result<TileResource, TileError> {
    let rest = path
        .strip_prefix('/')
        .unwrap_or(path)
        .strip_prefix("tile/")
        .ok_or_else(|| invalid(path, "does not start with \"tile/\""))?;
    let (kind, rest) = rest
        .split_once('/')
        .ok_or_else(|| invalid(path, "missing tile index"))?;
    let (index, width) = parse_index_and_width(path, rest)?;
    if kind == "entries" {
        return Ok(TileResource::Entries(EntryBundleId { index, width }));
    }
    // tlog-tiles "Merkle Tree": <L> "MUST be a decimal ASCII integer between
    // 0 and 63, with no additional leading zeroes".
    let level = parse_decimal(kind)
        .filter(|&l| l <= u64::from(MAX_TILE_LEVEL))
        .ok_or_else(|| invalid(path, "level is not a decimal from 0 to 63"))?;
    Ok(TileResource::Hashes(TileId {
        // Invariant: checked <= 63 just above.
        level: u8::try_from(level).expect("level <= 63"),
        index,
        width,
    }))
}

/// The nodes a hash tile holds, left to right: `NodeId { level: 8 * L,
/// index: 256 * N + i }` for `i` in `0..W` (a `Vec`, as
/// [`crate::merkle::HashReader::read_hashes`] takes a slice). Empty for
/// tiles that cannot hold nodes of a tree of `u64` size (level 8 and above)
/// and for widths outside `1..=256`.
pub fn tile_nodes(t: &TileId) -> Vec<NodeId> {
    let level = t.level.checked_mul(TILE_HEIGHT).filter(|&l| l < 64);
    let start = t.index.checked_mul(TILE_WIDTH);
    let end = end_of(t.index, t.width);
    match (level, start, end, valid_width(t.width)) {
        (Some(level), Some(start), Some(end), true) => {
            (start..end).map(|index| NodeId { level, index }).collect()
        }
        _ => Vec::new(),
    }
}

/// Hash tile data: the concatenated hashes (32 bytes each). Callers pass 1
/// to 256 hashes, those of [`tile_nodes`] in order.
pub fn encode_hash_tile(hashes: &[Hash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hashes.len() * 32);
    for h in hashes {
        out.extend_from_slice(&h.0);
    }
    out
}

/// Splits hash tile data into hashes. Accepts 1 to 256 whole hashes; the
/// caller checks the count against the width it asked for.
pub fn decode_hash_tile(bytes: &[u8]) -> Result<Vec<Hash>, TileError> {
    let len = bytes.len();
    // tlog-tiles "Merkle Tree": full tiles are "exactly 256 hashes wide, or
    // 8,192 bytes"; "Partial Tiles": "between 1 and 255 hashes".
    if len == 0 || !len.is_multiple_of(32) || len as u64 > 32 * TILE_WIDTH {
        return Err(TileError::BadHashTile { len });
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            Hash(h)
        })
        .collect())
}

/// An entry bundle: for each entry, its big-endian `uint16` length then its
/// bytes (tlog-tiles "Log entries"). 1 to 256 entries of at most 65535 bytes.
pub fn encode_entry_bundle<'a>(
    entries: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, TileError> {
    let mut out = Vec::new();
    let mut count = 0usize;
    for (index, entry) in entries.into_iter().enumerate() {
        if index as u64 >= TILE_WIDTH {
            return Err(TileError::TooManyEntries);
        }
        let len = u16::try_from(entry.len()).map_err(|_| TileError::EntryTooLarge {
            index,
            size: entry.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
        count += 1;
    }
    if count == 0 {
        return Err(TileError::EmptyBundle);
    }
    Ok(out)
}

/// Splits an entry bundle into its 1 to 256 entries.
pub fn decode_entry_bundle(bytes: &[u8]) -> Result<Vec<Vec<u8>>, TileError> {
    if bytes.is_empty() {
        return Err(TileError::EmptyBundle);
    }
    let mut entries = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let index = entries.len();
        if index as u64 >= TILE_WIDTH {
            return Err(TileError::TooManyEntries);
        }
        let offset = bytes.len() - rest.len();
        let truncated = TileError::TruncatedBundle { index, offset };
        let (len, tail) = rest.split_first_chunk::<2>().ok_or(truncated.clone())?;
        let len = usize::from(u16::from_be_bytes(*len));
        let (entry, tail) = tail.split_at_checked(len).ok_or(truncated)?;
        entries.push(entry.to_vec());
        rest = tail;
    }
    Ok(entries)
}

/// Tile `index` (the `<N>` of `tile/<L>/<N>`) of tile level `level` as the
/// tree of `tree_size` has it: the full tile if the tree has all 256 of its
/// hashes, else the partial tile of width `floor(tree_size / 256**level) mod
/// 256` (tlog-tiles "Partial Tiles"). `None` if the tree has none of its
/// hashes ("Empty tiles MUST NOT be served"). The tile holding hash `i` of
/// the level (node `NodeId { level: 8 * level, index: i }`) is tile `i / 256`.
pub fn tile_for(level: u8, index: u64, tree_size: u64) -> Option<TileId> {
    if level > MAX_TILE_LEVEL {
        return None;
    }
    let width = width_of(index, hashes_at_level(level, tree_size))?;
    Some(TileId {
        level,
        index,
        width,
    })
}

/// Entry bundle `index` (entries `256 * index ..`) as the tree of
/// `tree_size` has it: full if the tree has all 256 of its entries, else
/// partial. `None` if the tree has none of them. Entry `i` is in bundle
/// `i / 256`.
pub fn entry_bundle_for(index: u64, tree_size: u64) -> Option<EntryBundleId> {
    let width = width_of(index, tree_size)?;
    Some(EntryBundleId { index, width })
}

impl fmt::Display for TileId {
    /// [`TileId::path`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

impl fmt::Display for EntryBundleId {
    /// [`EntryBundleId::path`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

// ---------------------------------------------------------------------------
// Internals

fn invalid(path: &str, reason: &'static str) -> TileError {
    TileError::BadPath {
        path: path.chars().take(120).collect(),
        reason,
    }
}

fn valid_width(width: u16) -> bool {
    (1..=TILE_WIDTH).contains(&u64::from(width))
}

/// One past the last position of tile `index` of `width`, if it fits a u64.
fn end_of(index: u64, width: u16) -> Option<u64> {
    index.checked_mul(TILE_WIDTH)?.checked_add(u64::from(width))
}

/// Number of hashes of tile level `level` in the tree of `tree_size`:
/// `floor(tree_size / 256**level)`.
fn hashes_at_level(level: u8, tree_size: u64) -> u64 {
    let shift = u32::from(level) * u32::from(TILE_HEIGHT);
    tree_size.checked_shr(shift).unwrap_or(0)
}

/// Width of tile `index` when its level has `count` positions; `None` if
/// the tile would be empty.
fn width_of(index: u64, count: u64) -> Option<u16> {
    let start = index.checked_mul(TILE_WIDTH)?;
    if start >= count {
        return None;
    }
    let width = (count - start).min(TILE_WIDTH);
    // Invariant: width <= 256.
    Some(u16::try_from(width).expect("width <= 256"))
}

/// Appends `<N>[.p/<W>]`.
fn push_index_and_width(out: &mut String, index: u64, width: u16) {
    // tlog-tiles "Merkle Tree": <N> is "zero-padded 3-digit path elements.
    // All but the last path element MUST begin with an x".
    let digits = index.to_string();
    let padded = format!("{digits:0>width$}", width = digits.len().div_ceil(3) * 3);
    let groups = padded.len() / 3;
    for (i, group) in padded.as_bytes().chunks(3).enumerate() {
        if i + 1 < groups {
            out.push('x');
        }
        // Invariant: ASCII digits only.
        out.push_str(std::str::from_utf8(group).expect("ASCII digits"));
        if i + 1 < groups {
            out.push('/');
        }
    }
    // "The .p/<W> suffix is only present for partial tiles".
    if u64::from(width) != TILE_WIDTH {
        // Writing to a String cannot fail.
        let _ = write!(out, ".p/{width}");
    }
}

/// Parses `<N>[.p/<W>]`, canonical form only, so that `path()` inverts it.
fn parse_index_and_width(path: &str, s: &str) -> Result<(u64, u16), TileError> {
    let (index_part, width) = match s.rsplit_once(".p/") {
        Some((idx, w)) => {
            // "<W> is the width of the tile, a decimal ASCII integer between
            // 1 and 255, with no additional leading zeroes."
            let w = parse_decimal(w)
                .filter(|w| (1..TILE_WIDTH).contains(w))
                .ok_or_else(|| invalid(path, "partial width is not a decimal from 1 to 255"))?;
            // Invariant: filtered to 1..=255 just above.
            (idx, u16::try_from(w).expect("w < 256"))
        }
        None => (s, 256),
    };
    let groups: Vec<&str> = index_part.split('/').collect();
    let last = groups.len() - 1;
    let mut index: u64 = 0;
    for (i, group) in groups.iter().enumerate() {
        let digits = if i < last {
            group
                .strip_prefix('x')
                .ok_or_else(|| invalid(path, "index element before the last lacks its x"))?
        } else {
            group
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(path, "index element is not 3 decimal digits"));
        }
        if i == 0 && i < last && digits == "000" {
            return Err(invalid(path, "index has a leading x000 element"));
        }
        let value = u64::from(
            digits
                .parse::<u16>()
                .map_err(|_| invalid(path, "bad digits"))?,
        );
        index = index
            .checked_mul(1000)
            .and_then(|n| n.checked_add(value))
            .ok_or_else(|| invalid(path, "index does not fit 64 bits"))?;
    }
    Ok((index, width))
}

/// A decimal with no sign and no leading zeroes (`"0"` itself is fine).
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{HashReader, MemoryTree, leaf_hash, node_hash, tree_root};
    use proptest::prelude::*;

    fn tile(level: u8, index: u64, width: u16) -> TileId {
        TileId {
            level,
            index,
            width,
        }
    }

    #[test]
    fn spec_path_examples() {
        // tlog-tiles "Merkle Tree": "index 1234067 will be encoded as
        // x001/x234/067".
        assert_eq!(tile(0, 1234067, 256).path(), "tile/0/x001/x234/067");
        assert_eq!(tile(2, 1234067, 17).path(), "tile/2/x001/x234/067.p/17");
        assert_eq!(tile(0, 0, 256).path(), "tile/0/000");
        assert_eq!(tile(1, 1, 1).path(), "tile/1/001.p/1");
        assert_eq!(tile(63, 999, 255).path(), "tile/63/999.p/255");
        assert_eq!(tile(0, 1000, 256).path(), "tile/0/x001/000");
        assert_eq!(
            tile(0, u64::MAX, 256).path(),
            "tile/0/x018/x446/x744/x073/x709/x551/615"
        );
        let b = EntryBundleId {
            index: 1234067,
            width: 256,
        };
        assert_eq!(b.path(), "tile/entries/x001/x234/067");
        let b = EntryBundleId {
            index: 273,
            width: 112,
        };
        assert_eq!(b.path(), "tile/entries/273.p/112");
        assert_eq!(EntryBundleId::parse_path("tile/entries/273.p/112"), Ok(b));
        assert_eq!(
            TileId::parse_path("tile/0/x001/x234/067"),
            Ok(tile(0, 1234067, 256))
        );
        assert_eq!(
            parse_tile_resource("tile/entries/000"),
            Ok(TileResource::Entries(EntryBundleId {
                index: 0,
                width: 256
            }))
        );
        assert_eq!(
            parse_tile_resource("tile/7/x001/000.p/3"),
            Ok(TileResource::Hashes(tile(7, 1000, 3)))
        );
        assert_eq!(
            TileId::parse_path("tile/0/x018/x446/x744/x073/x709/x551/615"),
            Ok(tile(0, u64::MAX, 256))
        );
    }

    #[test]
    fn non_canonical_paths_are_rejected() {
        for bad in [
            "",
            "tile",
            "tile/",
            "tile/0",
            "tile/0/",
            "//tile/0/000",
            "tiles/0/000",
            "tile/00/000",
            "tile/01/000",
            "tile/64/000",
            "tile/-1/000",
            "tile/+1/000",
            "tile/x/000",
            "tile/0/0",
            "tile/0/00",
            "tile/0/0000",
            "tile/0/x000",
            "tile/0/001/002",
            "tile/0/x001/x002",
            "tile/0/x000/001",
            "tile/0/x001/x234/67",
            "tile/0/X001/234",
            "tile/0/x01/234",
            "tile/0/1a3",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/010",
            "tile/0/000.p/",
            "tile/0/000.p",
            "tile/0/000.p/1/2",
            "tile/0/000/",
            "tile/0/000.p/1.p/2",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/0/x001/x018/x446/x744/x073/x709/x551/615",
            "tile/entries/",
            "tile/entries/01",
            "tile/entries/000.p/300",
            "tile/data/000",
        ] {
            assert!(parse_tile_resource(bad).is_err(), "accepted {bad:?}");
        }
        assert!(TileId::parse_path("tile/entries/000").is_err());
        // One leading slash, as in a request path, is tolerated.
        assert_eq!(TileId::parse_path("/tile/0/000"), Ok(tile(0, 0, 256)));
        assert!(EntryBundleId::parse_path("tile/0/000").is_err());
        let e = TileId::parse_path("tile/01/000").unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad tile path \"tile/01/000\": level is not a decimal from 0 to 63"
        );
    }

    #[test]
    fn spec_partial_tile_example() {
        // tlog-tiles "Partial Tiles": "a tree of size 70,000 will be
        // represented by 273 full level 0 tiles, one partial level 0 tile of
        // width 112, one full level 1 tile, one partial level 1 tile of width
        // 17, and one partial level 2 tile of width 1."
        let s = 70_000;
        let full_level0 = (0..).take_while(|&n| tile_for(0, n, s).is_some_and(|t| t.is_full()));
        assert_eq!(full_level0.count(), 273);
        assert_eq!(tile_for(0, 0, s), Some(tile(0, 0, 256)));
        assert_eq!(tile_for(0, 272, s), Some(tile(0, 272, 256)));
        assert_eq!(tile_for(0, 273, s), Some(tile(0, 273, 112)));
        assert_eq!(tile_for(0, 274, s), None);
        assert_eq!(tile_for(1, 0, s), Some(tile(1, 0, 256)));
        assert_eq!(tile_for(1, 1, s), Some(tile(1, 1, 17)));
        assert_eq!(tile_for(1, 2, s), None);
        assert_eq!(tile_for(2, 0, s), Some(tile(2, 0, 1)));
        assert_eq!(tile_for(2, 1, s), None);
        assert_eq!(tile_for(3, 0, s), None);
        let bundle = |index, width| Some(EntryBundleId { index, width });
        assert_eq!(entry_bundle_for(273, s), bundle(273, 112));
        assert_eq!(entry_bundle_for(0, s), bundle(0, 256));
        assert_eq!(entry_bundle_for(274, s), None);
        // "a tree of size 256 will be represented by a full level 0 tile and
        // a partial level 1 tile of width 1."
        assert_eq!(tile_for(0, 0, 256), Some(tile(0, 0, 256)));
        assert_eq!(tile_for(1, 0, 256), Some(tile(1, 0, 1)));
        assert_eq!(tile_for(0, 1, 256), None);
        // Extremes.
        assert_eq!(tile_for(7, 0, u64::MAX), Some(tile(7, 0, 255)));
        assert_eq!(tile_for(8, 0, u64::MAX), None);
        assert_eq!(tile_for(64, 0, u64::MAX), None);
        assert_eq!(tile_for(0, u64::MAX, u64::MAX), None);
        assert_eq!(entry_bundle_for(u64::MAX, u64::MAX), None);
        assert_eq!(entry_bundle_for(0, 0), None);
        assert!(tile(0, 273, 112).fits(s));
        assert!(tile(0, 273, 100).fits(s));
        assert!(!tile(0, 273, 113).fits(s));
        assert!(!tile(0, 273, 256).fits(s));
        assert!(tile(2, 0, 1).fits(s));
        assert!(!tile(9, 0, 1).fits(u64::MAX));
        assert!(!tile(0, 0, 0).fits(s));
        assert!(
            EntryBundleId {
                index: 273,
                width: 112
            }
            .fits(s)
        );
        assert!(
            !EntryBundleId {
                index: 273,
                width: 256
            }
            .fits(s)
        );
    }

    #[test]
    fn tile_node_ids() {
        let ids = tile_nodes(&tile(1, 2, 3));
        assert_eq!(
            ids,
            [
                NodeId::new(8, 512),
                NodeId::new(8, 513),
                NodeId::new(8, 514)
            ]
        );
        assert_eq!(tile_nodes(&tile(0, 0, 256)).len(), 256);
        assert_eq!(
            tile_nodes(&tile(7, 0, 256)).last().copied(),
            Some(NodeId::new(56, 255))
        );
        assert!(tile_nodes(&tile(8, 0, 256)).is_empty());
        assert!(tile_nodes(&tile(0, 0, 0)).is_empty());
        assert!(tile_nodes(&tile(0, 0, 257)).is_empty());
        assert!(tile_nodes(&tile(0, u64::MAX, 1)).is_empty());
    }

    /// The tree of the spec's example size, with every level-0 and level-1
    /// tile checked against the tree's nodes, and the size-256 root
    /// recomputed from tile 0's data alone.
    #[test]
    fn tiles_of_a_70000_leaf_tree() {
        let size = 70_000u64;
        let mut t = MemoryTree::new();
        for i in 0..size {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        let serve = |id: &TileId| -> Vec<u8> {
            let ids = tile_nodes(id);
            let Ok(hashes) = t.read_hashes(&ids);
            encode_hash_tile(&hashes)
        };
        for level in 0..=2u8 {
            let mut n = 0;
            while let Some(id) = tile_for(level, n, size) {
                let data = serve(&id);
                assert_eq!(data.len(), 32 * usize::from(id.width));
                let hashes = decode_hash_tile(&data).expect("decodes");
                for (i, h) in hashes.iter().enumerate() {
                    let node = NodeId::new(8 * level, n * TILE_WIDTH + i as u64);
                    assert_eq!(t.get(node), Some(*h), "{node:?}");
                    if level == 0 {
                        assert_eq!(*h, leaf_hash(&node.index.to_be_bytes()));
                    }
                }
                n += 1;
            }
            assert_eq!(n, [274, 2, 1][usize::from(level)]);
        }
        // A verifier with tile 0 only: 256 leaf hashes -> root of size 256.
        let mut row = decode_hash_tile(&serve(&tile(0, 0, 256))).expect("decodes");
        while row.len() > 1 {
            row = row.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
        }
        assert_eq!(Ok(row[0]), tree_root(256, &t));
        // Level 1 hash 0 is that same subtree.
        let l1 = decode_hash_tile(&serve(&tile(1, 0, 256))).expect("decodes");
        assert_eq!(l1[0], row[0]);
        // And the root of the whole tree from the rightmost tiles alone.
        assert_eq!(root_from_tiles(size, serve), t.root());
        assert_eq!(
            root_from_tiles(65_536 + 300, serve),
            tree_root(65_836, &t).unwrap()
        );
    }

    /// Root of `size` using only tiles `tile_for` names, as a client would.
    fn root_from_tiles(size: u64, fetch: impl Fn(&TileId) -> Vec<u8>) -> Hash {
        // Perfect subtrees of the tree, largest first, each from the tile
        // level just below it.
        let mut parts = Vec::new();
        let mut pos = 0u64;
        for lv in (0..64u32).rev() {
            if (size >> lv) & 1 == 0 {
                continue;
            }
            let tl = u8::try_from(lv / 8).unwrap();
            let span = 1u64 << (lv % 8); // hashes of tile level tl to combine
            let first = pos >> (8 * u32::from(tl));
            let id = tile_for(tl, first / TILE_WIDTH, size).expect("tile exists");
            let hashes = decode_hash_tile(&fetch(&id)).expect("decodes");
            let at = usize::try_from(first - id.index * TILE_WIDTH).unwrap();
            let mut row = hashes[at..at + span as usize].to_vec();
            while row.len() > 1 {
                row = row.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
            }
            parts.push(row[0]);
            pos += 1 << lv;
        }
        let (last, rest) = parts.split_last().expect("size > 0");
        rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc))
    }

    #[test]
    fn hash_tile_codec() {
        let hs: Vec<Hash> = (0..3u8).map(|i| Hash([i; 32])).collect();
        let data = encode_hash_tile(&hs);
        assert_eq!(data.len(), 96);
        assert_eq!(decode_hash_tile(&data), Ok(hs));
        assert_eq!(
            decode_hash_tile(&[]),
            Err(TileError::BadHashTile { len: 0 })
        );
        assert_eq!(
            decode_hash_tile(&[0; 33]),
            Err(TileError::BadHashTile { len: 33 })
        );
        assert!(decode_hash_tile(&[0; 8192]).is_ok());
        assert_eq!(
            decode_hash_tile(&[0; 8224]),
            Err(TileError::BadHashTile { len: 8224 })
        );
    }

    #[test]
    fn entry_bundle_codec() {
        let entries: [&[u8]; 3] = [b"", b"a", &[7u8; 300]];
        let data = encode_entry_bundle(entries).expect("encodes");
        assert_eq!(&data[..5], [0, 0, 0, 1, b'a']);
        assert_eq!(&data[5..7], [1, 44]);
        assert_eq!(data.len(), 2 + 3 + 2 + 300);
        let back = decode_entry_bundle(&data).expect("decodes");
        assert_eq!(back, entries.map(<[u8]>::to_vec));

        let big = vec![0u8; 65_536];
        assert_eq!(
            encode_entry_bundle([b"x".as_slice(), &big]),
            Err(TileError::EntryTooLarge {
                index: 1,
                size: 65_536
            })
        );
        let max = vec![1u8; 65_535];
        let data = encode_entry_bundle([max.as_slice()]).expect("encodes");
        assert_eq!(decode_entry_bundle(&data), Ok(vec![max]));
        assert_eq!(encode_entry_bundle([]), Err(TileError::EmptyBundle));
        assert_eq!(decode_entry_bundle(&[]), Err(TileError::EmptyBundle));
        let many = vec![b"e".as_slice(); 257];
        assert_eq!(
            encode_entry_bundle(many.clone()),
            Err(TileError::TooManyEntries)
        );
        assert!(encode_entry_bundle(many[..256].iter().copied()).is_ok());
        let mut data = encode_entry_bundle(many[..256].iter().copied()).expect("encodes");
        data.extend_from_slice(&[0, 0]);
        assert_eq!(decode_entry_bundle(&data), Err(TileError::TooManyEntries));
        assert_eq!(
            decode_entry_bundle(&[0, 1, b'a', 0]),
            Err(TileError::TruncatedBundle {
                index: 1,
                offset: 3
            })
        );
        assert_eq!(
            decode_entry_bundle(&[0, 3, b'a', b'b']),
            Err(TileError::TruncatedBundle {
                index: 0,
                offset: 0
            })
        );
    }

    proptest! {
        #[test]
        fn prop_paths_round_trip(level in 0u8..=63, index in any::<u64>(), width in 1u16..=256) {
            let t = tile(level, index, width);
            prop_assert_eq!(TileId::parse_path(&t.path()), Ok(t));
            let b = EntryBundleId { index, width };
            prop_assert_eq!(EntryBundleId::parse_path(&b.path()), Ok(b));
            prop_assert_eq!(t.path().contains(".p/"), width != 256);
        }

        #[test]
        fn prop_parse_never_panics(s in "tile/[0-9a-z./x]{0,40}") {
            if let Ok(r) = parse_tile_resource(&s) {
                let again = match r {
                    TileResource::Hashes(t) => t.path(),
                    TileResource::Entries(b) => b.path(),
                };
                prop_assert_eq!(again, s);
            }
        }

        #[test]
        fn prop_bundles_round_trip(entries in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 1..=256)) {
            let data = encode_entry_bundle(entries.iter().map(Vec::as_slice)).expect("encodes");
            prop_assert_eq!(decode_entry_bundle(&data), Ok(entries));
        }

        #[test]
        fn prop_tile_for_covers(level in 0u8..3, size in 1u64..10_000_000, pick in any::<u64>()) {
            let count = size >> (8 * u32::from(level));
            prop_assume!(count > 0);
            let index = pick % count;
            let t = tile_for(level, index / TILE_WIDTH, size).expect("exists");
            prop_assert!(t.fits(size));
            prop_assert!(tile_nodes(&t).contains(&NodeId::new(8 * level, index)));
            // Every node of the tile is complete in the tree of `size`.
            for n in tile_nodes(&t) {
                prop_assert!((n.index + 1) << n.level <= size);
            }
            // The full tile exactly when the next 256-boundary is reached.
            prop_assert_eq!(t.is_full(), (t.index + 1) * TILE_WIDTH <= count);
        }
    }
}
