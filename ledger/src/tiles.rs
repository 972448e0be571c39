//! C2SP tlog-tiles: tile paths, hash tiles and entry bundles.
//!
//! What this module deliberately does not do: no HTTP and no storage — it
//! names tiles, says which tree nodes a tile holds, and encodes/decodes
//! their bytes. The service serves these as files; stores read the nodes.

use std::fmt;

use crate::merkle::{Hash, NodeId};

/// Tile height: a tile spans 8 tree levels (C2SP tlog-tiles §Tiles).
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Largest entry an entry bundle can carry (16-bit length prefix).
pub const MAX_ENTRY_SIZE: usize = 65_535;

/// A hash tile: level `L`, index `N`, `width` hashes (256 when full).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TileId {
    pub level: u8,
    pub index: u64,
    pub width: u16,
}

/// An entry bundle: the entries `256·index ..` (`width` of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EntryBundleId {
    pub index: u64,
    pub width: u16,
}

/// Why a tile path or tile body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TileError {
    #[error("bad tile path {path:?}: {reason}")]
    BadPath { path: String, reason: &'static str },
    #[error("hash tile of {len} bytes is not a whole number of 32-byte hashes")]
    RaggedHashTile { len: usize },
    #[error("entry of {size} bytes does not fit a 16-bit length (max 65535)")]
    EntryTooLarge { size: usize },
    #[error("entry bundle is truncated at byte {offset}")]
    TruncatedBundle { offset: usize },
}

/// `N` as C2SP tlog-tiles writes it: 3-digit groups, all but the last
/// prefixed with `x` (e.g. 1234067 → `x001/x234/067`).
fn encode_index(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

fn width_suffix(width: u16) -> String {
    if u64::from(width) == TILE_WIDTH {
        String::new()
    } else {
        format!(".p/{width}")
    }
}

impl TileId {
    /// `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        format!(
            "tile/{}/{}{}",
            self.level,
            encode_index(self.index),
            width_suffix(self.width)
        )
    }

    /// Parses a hash tile path (with or without a leading `/`).
    pub fn parse_path(path: &str) -> Result<TileId, TileError> {
        let bad = |reason| TileError::BadPath {
            path: path.chars().take(120).collect(),
            reason,
        };
        let rest = path
            .trim_start_matches('/')
            .strip_prefix("tile/")
            .ok_or_else(|| bad("must start with tile/"))?;
        let (level, rest) = rest.split_once('/').ok_or_else(|| bad("missing level"))?;
        if level == "entries" {
            return Err(bad("an entry bundle path, not a hash tile"));
        }
        let level = parse_decimal(level).ok_or_else(|| bad("level is not a decimal number"))?;
        if level > 63 {
            return Err(bad("level above 63"));
        }
        let (index, width) = parse_index_and_width(rest).map_err(bad)?;
        Ok(TileId {
            level: level as u8,
            index,
            width,
        })
    }
}

impl EntryBundleId {
    /// `tile/entries/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        format!(
            "tile/entries/{}{}",
            encode_index(self.index),
            width_suffix(self.width)
        )
    }

    pub fn parse_path(path: &str) -> Result<EntryBundleId, TileError> {
        let bad = |reason| TileError::BadPath {
            path: path.chars().take(120).collect(),
            reason,
        };
        let rest = path
            .trim_start_matches('/')
            .strip_prefix("tile/entries/")
            .ok_or_else(|| bad("must start with tile/entries/"))?;
        let (index, width) = parse_index_and_width(rest).map_err(bad)?;
        Ok(EntryBundleId { index, width })
    }
}

impl fmt::Display for TileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty()
        || s.len() > 20
        || !s.bytes().all(|b| b.is_ascii_digit())
        || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Parses `x001/x234/067[.p/W]`.
fn parse_index_and_width(s: &str) -> Result<(u64, u16), &'static str> {
    let (groups, width) = match s.split_once(".p/") {
        Some((g, w)) => {
            let w = parse_decimal(w).ok_or("partial width is not a decimal number")?;
            if !(1..TILE_WIDTH).contains(&w) {
                return Err("partial width must be 1..255");
            }
            (g, w as u16)
        }
        None => (s, TILE_WIDTH as u16),
    };
    let parts: Vec<&str> = groups.split('/').collect();
    let mut n: u64 = 0;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let digits = if last {
            *part
        } else {
            part.strip_prefix('x')
                .ok_or("non-final index groups must start with x")?
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("index groups are three digits");
        }
        if i == 0 && !last && digits == "000" {
            return Err("index has a leading zero group");
        }
        let d: u64 = digits
            .parse()
            .map_err(|_| "index groups are three digits")?;
        n = n
            .checked_mul(1000)
            .and_then(|n| n.checked_add(d))
            .ok_or("index too large")?;
    }
    Ok((n, width))
}

/// The tree nodes a hash tile holds: the `width` hashes at tree level
/// `8·L`, indexes `256·N ..` (C2SP tlog-tiles §Tiles).
pub fn tile_nodes(t: &TileId) -> Vec<NodeId> {
    let level = t.level * TILE_HEIGHT;
    (0..u64::from(t.width))
        .map(|k| NodeId {
            level,
            index: t.index * TILE_WIDTH + k,
        })
        .collect()
}

/// The tile holding tree level `8·level`, index `index·256 ..`, for a tree
/// of `tree_size`: full if complete, else partial; `None` if empty.
pub fn tile_for(level: u8, index: u64, tree_size: u64) -> Option<TileId> {
    let shift = u32::from(level) * u32::from(TILE_HEIGHT);
    let nodes_at_level = if shift >= 64 { 0 } else { tree_size >> shift };
    let start = index.checked_mul(TILE_WIDTH)?;
    if nodes_at_level <= start {
        return None;
    }
    let width = (nodes_at_level - start).min(TILE_WIDTH) as u16;
    Some(TileId {
        level,
        index,
        width,
    })
}

/// The entry bundle `index` for a log of `tree_size`.
pub fn entry_bundle_for(index: u64, tree_size: u64) -> Option<EntryBundleId> {
    let start = index.checked_mul(TILE_WIDTH)?;
    if tree_size <= start {
        return None;
    }
    let width = (tree_size - start).min(TILE_WIDTH) as u16;
    Some(EntryBundleId { index, width })
}

/// A hash tile's body: the hashes concatenated.
pub fn encode_hash_tile(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.0).collect()
}

pub fn decode_hash_tile(bytes: &[u8]) -> Result<Vec<Hash>, TileError> {
    if bytes.len() % 32 != 0 {
        return Err(TileError::RaggedHashTile { len: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(32)
        .filter_map(Hash::from_slice)
        .collect())
}

/// An entry bundle's body: each entry as a 2-byte big-endian length and
/// its bytes (C2SP tlog-tiles §Log entries).
pub fn encode_entry_bundle<'a>(
    entries: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, TileError> {
    let mut out = Vec::new();
    for e in entries {
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLarge { size: e.len() })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

pub fn decode_entry_bundle(bytes: &[u8]) -> Result<Vec<Vec<u8>>, TileError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len_bytes = bytes
            .get(at..at + 2)
            .ok_or(TileError::TruncatedBundle { offset: at })?;
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        let body = bytes
            .get(at + 2..at + 2 + len)
            .ok_or(TileError::TruncatedBundle { offset: at })?;
        out.push(body.to_vec());
        at += 2 + len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{HashReader, MemoryTree, leaf_hash};

    #[test]
    fn paths_follow_the_spec_examples() {
        // C2SP tlog-tiles: "tile/0/x001/x234/067" for index 1234067.
        let t = TileId {
            level: 0,
            index: 1_234_067,
            width: 256,
        };
        assert_eq!(t.path(), "tile/0/x001/x234/067");
        assert_eq!(TileId::parse_path("tile/0/x001/x234/067").unwrap(), t);
        let p = TileId {
            level: 1,
            index: 3,
            width: 17,
        };
        assert_eq!(p.path(), "tile/1/003.p/17");
        assert_eq!(TileId::parse_path(&p.path()).unwrap(), p);
        let e = EntryBundleId {
            index: 1000,
            width: 5,
        };
        assert_eq!(e.path(), "tile/entries/x001/000.p/5");
        assert_eq!(EntryBundleId::parse_path(&e.path()).unwrap(), e);
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in [
            "tile/0/1",
            "tile/0/001/002",
            "tile/0/x000/002",
            "tile/64/000",
            "tile/0/000.p/256",
            "tile/0/000.p/0",
            "tile/a/000",
            "tile/01/000",
            "tile/entries/000",
        ] {
            assert!(TileId::parse_path(bad).is_err(), "{bad}");
        }
        assert!(EntryBundleId::parse_path("tile/entries/1").is_err());
    }

    #[test]
    fn tiles_hold_the_tree_nodes() {
        let mut t = MemoryTree::new();
        for i in 0..70_000u64 {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        let tile = tile_for(1, 0, 70_000).unwrap();
        assert_eq!(tile.width, 256);
        let hashes = t.read_hashes(&tile_nodes(&tile)).unwrap();
        let decoded = decode_hash_tile(&encode_hash_tile(&hashes)).unwrap();
        // The first level-1 hash is the root of the first 256 leaves.
        let mut small = MemoryTree::new();
        for i in 0..256u64 {
            small.push(leaf_hash(&i.to_be_bytes()));
        }
        assert_eq!(decoded[0], small.root());
        // 70,000 leaves = 273 full level-0 tiles and one of 112.
        assert_eq!(tile_for(0, 273, 70_000).unwrap().width, 112);
        assert_eq!(tile_for(0, 274, 70_000), None);
        assert_eq!(tile_for(1, 1, 70_000).unwrap().width, 17);
        assert_eq!(entry_bundle_for(273, 70_000).unwrap().width, 112);
    }

    #[test]
    fn entry_bundles_round_trip_and_refuse_damage() {
        let entries: Vec<&[u8]> = vec![b"", b"a", &[7u8; 300]];
        let bundle = encode_entry_bundle(entries.iter().copied()).unwrap();
        assert_eq!(
            decode_entry_bundle(&bundle).unwrap(),
            entries.iter().map(|e| e.to_vec()).collect::<Vec<_>>()
        );
        assert!(decode_entry_bundle(&bundle[..bundle.len() - 1]).is_err());
        let big = vec![0u8; 65_536];
        assert!(matches!(
            encode_entry_bundle([big.as_slice()]),
            Err(TileError::EntryTooLarge { size: 65_536 })
        ));
    }
}
