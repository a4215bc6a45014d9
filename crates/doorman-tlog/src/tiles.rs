//! C2SP `tlog-tiles`: the tree served as static, cacheable "tiles" of 256
//! consecutive hashes, and the entries as bundles of 256 entries.
//!
//! Tile `(L, N)` holds the hashes of the complete subtrees of height `8 * L`
//! numbered `256 * N` to `256 * N + 255`; its rightmost tiles are *partial*
//! (fewer than 256 hashes). Paths look like `tile/<L>/<N>[.p/<W>]` and
//! `tile/entries/<N>[.p/<W>]`, where `<N>` is written in 3-digit groups, all
//! but the last prefixed by `x` (`1234067` is `x001/x234/067`).
//!
//! A server builds a tile from its stored hashes ([`read_tile`]); a client
//! computes which tiles a proof needs ([`tiles_for_nodes`] over a
//! [`ProofPlan`](crate::proof::ProofPlan)'s nodes), fetches them, and reads
//! the proof through a [`TileHashReader`], which recomputes the subtrees
//! between tile levels by hashing. Proofs built from tiles are then verified
//! against a checkpoint like any other, so a lying tile server is caught.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::hash::{leaf_hash, node_hash, Hash, HASH_SIZE};
use crate::node::{NodeId, MAX_TREE_SIZE};
use crate::proof::{HashReader, ProveError, ReadError};

/// Height of a tile in tree levels.
pub const TILE_HEIGHT: u8 = 8;

/// Hashes in a full tile (and entries in a full bundle).
pub const TILE_WIDTH: u16 = 256;

/// Highest tile level that can hold a hash of a tree of at most
/// [`MAX_TREE_SIZE`] entries (tile level 7 is tree level 56).
pub const MAX_TILE_LEVEL: u8 = 7;

/// Why a tile path, tile or bundle is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// The path is not a canonical tile or entry bundle path.
    #[error("invalid tile path: {0}")]
    InvalidPath(&'static str),
    /// Tile data does not have `width * 32` bytes.
    #[error("tile data is {actual} bytes, expected {expected}")]
    WrongLength {
        /// Bytes expected.
        expected: usize,
        /// Bytes received.
        actual: usize,
    },
    /// An entry is longer than a bundle can carry (65535 bytes).
    #[error("entry of {0} bytes does not fit a bundle (max 65535)")]
    EntryTooLarge(usize),
    /// A bundle must hold 1 to 256 entries.
    #[error("a bundle holds 1 to 256 entries, got {0}")]
    BundleWidth(usize),
    /// Bundle bytes do not parse into the expected number of entries.
    #[error("malformed entry bundle: {0}")]
    MalformedBundle(&'static str),
}

/// Coordinates of one hash tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TileId {
    level: u8,
    index: u64,
    width: u16,
}

/// Coordinates of one entry bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryBundleId {
    index: u64,
    width: u16,
}

/// A parsed `tile/...` request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilePath {
    /// `tile/<L>/<N>[.p/<W>]`
    Hashes(TileId),
    /// `tile/entries/<N>[.p/<W>]`
    Entries(EntryBundleId),
}

/// Number of complete subtrees of height `8 * level` in a tree of `size`
/// entries: how many hashes the tiles of that level hold in total.
fn hashes_at_tile_level(size: u64, level: u8) -> u64 {
    size.checked_shr(u32::from(level) * u32::from(TILE_HEIGHT)).unwrap_or(0)
}

fn width_at(count: u64, index: u64) -> Option<u16> {
    let start = index.checked_mul(u64::from(TILE_WIDTH))?;
    let width = count.checked_sub(start)?.min(u64::from(TILE_WIDTH));
    u16::try_from(width).ok().filter(|w| *w > 0)
}

impl TileId {
    /// A tile; `None` unless `level <= 7`, `1 <= width <= 256` and the tile
    /// lies inside a tree of at most [`MAX_TREE_SIZE`] entries.
    pub fn new(level: u8, index: u64, width: u16) -> Option<Self> {
        if level > MAX_TILE_LEVEL || width == 0 || width > TILE_WIDTH {
            return None;
        }
        let last_position = index.checked_mul(u64::from(TILE_WIDTH))?.checked_add(u64::from(width) - 1)?;
        NodeId::new(level * TILE_HEIGHT, last_position)?;
        Some(TileId { level, index, width })
    }

    /// Tile level `L` (holding tree level `8 * L`).
    pub fn level(&self) -> u8 {
        self.level
    }

    /// Tile index `N` within its level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Number of hashes, 1 to 256.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Whether the tile has fewer than 256 hashes.
    pub fn is_partial(&self) -> bool {
        self.width < TILE_WIDTH
    }

    /// The tile of a tree of `size` entries at `level` and `index`, as wide
    /// as that tree makes it; `None` if the tree has no hash there.
    pub fn in_tree(level: u8, index: u64, size: u64) -> Option<Self> {
        if level > MAX_TILE_LEVEL || size > MAX_TREE_SIZE {
            return None;
        }
        let width = width_at(hashes_at_tile_level(size, level), index)?;
        Self::new(level, index, width)
    }

    /// The tile of a tree of `size` entries from which the hash of `node`
    /// can be read or recomputed; `None` if `node` is not a complete subtree
    /// of that tree.
    pub fn for_node(node: NodeId, size: u64) -> Option<Self> {
        if node.end_entry() > size {
            return None;
        }
        let level = node.level() / TILE_HEIGHT;
        let within = node.level() % TILE_HEIGHT;
        let position = node.index() << within;
        Self::in_tree(level, position / u64::from(TILE_WIDTH), size)
    }

    /// Whether a tree of `size` entries holds every hash of this tile (so a
    /// server with that tree can build it).
    pub fn is_within(&self, size: u64) -> bool {
        Self::in_tree(self.level, self.index, size).is_some_and(|widest| widest.width >= self.width)
    }

    /// The subtrees whose hashes the tile holds, left to right.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        let first = self.index * u64::from(TILE_WIDTH);
        (0..u64::from(self.width)).filter_map(move |offset| NodeId::new(self.level * TILE_HEIGHT, first + offset))
    }

    /// The resource path, `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let mut path = format!("tile/{}/", self.level);
        push_index_and_width(&mut path, self.index, self.width);
        path
    }

    /// Parses a tile path; see [`parse_tile_path`].
    pub fn parse_path(path: &str) -> Result<Self, TileError> {
        match parse_tile_path(path)? {
            TilePath::Hashes(tile) => Ok(tile),
            TilePath::Entries(_) => Err(TileError::InvalidPath("entry bundle, not a hash tile")),
        }
    }
}

impl EntryBundleId {
    /// A bundle; `None` unless `1 <= width <= 256` and the bundle lies inside
    /// a tree of at most [`MAX_TREE_SIZE`] entries.
    pub fn new(index: u64, width: u16) -> Option<Self> {
        TileId::new(0, index, width).map(|_| EntryBundleId { index, width })
    }

    /// The bundle holding entry `entry` in a tree of `size` entries.
    pub fn for_entry(entry: u64, size: u64) -> Option<Self> {
        if entry >= size {
            return None;
        }
        let tile = TileId::in_tree(0, entry / u64::from(TILE_WIDTH), size)?;
        Some(EntryBundleId { index: tile.index, width: tile.width })
    }

    /// Bundle index `N`.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Number of entries, 1 to 256.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Index of the first entry in the bundle.
    pub fn first_entry(&self) -> u64 {
        self.index * u64::from(TILE_WIDTH)
    }

    /// Whether the bundle has fewer than 256 entries.
    pub fn is_partial(&self) -> bool {
        self.width < TILE_WIDTH
    }

    /// The level 0 tile whose hashes are this bundle's leaf hashes.
    pub fn tile(&self) -> TileId {
        TileId { level: 0, index: self.index, width: self.width }
    }

    /// The resource path, `tile/entries/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let mut path = String::from("tile/entries/");
        push_index_and_width(&mut path, self.index, self.width);
        path
    }
}

fn push_index_and_width(path: &mut String, index: u64, width: u16) {
    let mut groups = Vec::with_capacity(7);
    let mut rest = index;
    loop {
        groups.push(rest % 1000);
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    let mut groups = groups.iter().rev().peekable();
    while let Some(group) = groups.next() {
        let prefix = if groups.peek().is_some() { "x" } else { "" };
        let separator = if groups.peek().is_some() { "/" } else { "" };
        // Writing to a String cannot fail.
        let _ = write!(path, "{prefix}{group:03}{separator}");
    }
    if width < TILE_WIDTH {
        let _ = write!(path, ".p/{width}");
    }
}

/// Parses `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]` (no leading
/// slash, no URL prefix) into tile coordinates. Only the canonical encoding
/// is accepted; never panics.
pub fn parse_tile_path(path: &str) -> Result<TilePath, TileError> {
    let rest = path.strip_prefix("tile/").ok_or(TileError::InvalidPath("must start with tile/"))?;
    let (kind, rest) = rest.split_once('/').ok_or(TileError::InvalidPath("missing tile index"))?;
    let (index_part, width) = match rest.split_once(".p/") {
        Some((index_part, width)) => (index_part, parse_width(width)?),
        None => (rest, TILE_WIDTH),
    };
    let index = parse_index(index_part)?;
    if kind == "entries" {
        return EntryBundleId::new(index, width)
            .map(TilePath::Entries)
            .ok_or(TileError::InvalidPath("bundle outside the largest tree"));
    }
    let level = parse_level(kind)?;
    TileId::new(level, index, width)
        .map(TilePath::Hashes)
        .ok_or(TileError::InvalidPath("tile outside the largest tree"))
}

fn is_decimal(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

fn parse_level(text: &str) -> Result<u8, TileError> {
    if !is_decimal(text) || text.len() > 2 || (text.len() > 1 && text.starts_with('0')) {
        return Err(TileError::InvalidPath("level must be a decimal number without leading zeros"));
    }
    let level: u8 = text.parse().map_err(|_| TileError::InvalidPath("level must be a decimal number"))?;
    if level > 63 {
        return Err(TileError::InvalidPath("level must be at most 63"));
    }
    if level > MAX_TILE_LEVEL {
        return Err(TileError::InvalidPath("no tree this large"));
    }
    Ok(level)
}

fn parse_width(text: &str) -> Result<u16, TileError> {
    if !is_decimal(text) || text.len() > 3 || text.starts_with('0') {
        return Err(TileError::InvalidPath("partial width must be 1 to 255 without leading zeros"));
    }
    let width: u16 = text.parse().map_err(|_| TileError::InvalidPath("partial width must be a decimal number"))?;
    if width == 0 || width >= TILE_WIDTH {
        return Err(TileError::InvalidPath("partial width must be 1 to 255"));
    }
    Ok(width)
}

fn parse_index(text: &str) -> Result<u64, TileError> {
    let groups: Vec<&str> = text.split('/').collect();
    // u64 has 20 decimal digits: at most 7 groups.
    if groups.len() > 7 {
        return Err(TileError::InvalidPath("index has too many groups"));
    }
    let last = groups.len().saturating_sub(1);
    let mut index: u64 = 0;
    for (position, group) in groups.iter().enumerate() {
        let digits = if position < last {
            group.strip_prefix('x').ok_or(TileError::InvalidPath("index groups but the last start with x"))?
        } else {
            group
        };
        if digits.len() != 3 || !is_decimal(digits) {
            return Err(TileError::InvalidPath("index groups are 3 digits"));
        }
        if position == 0 && position < last && digits == "000" {
            return Err(TileError::InvalidPath("index has a redundant leading group"));
        }
        let value: u64 = digits.parse().map_err(|_| TileError::InvalidPath("index groups are 3 digits"))?;
        index = index
            .checked_mul(1000)
            .and_then(|scaled| scaled.checked_add(value))
            .ok_or(TileError::InvalidPath("index too large"))?;
    }
    Ok(index)
}

/// The tiles (at their width in a tree of `size` entries) from which the
/// hashes of `nodes` can be read, without duplicates, in ascending order.
/// Errs with the first node that is not a complete subtree of that tree.
pub fn tiles_for_nodes(nodes: &[NodeId], size: u64) -> Result<Vec<TileId>, ReadError> {
    let mut tiles = Vec::with_capacity(nodes.len());
    for node in nodes {
        tiles.push(TileId::for_node(*node, size).ok_or(ReadError::Missing(*node))?);
    }
    tiles.sort_unstable();
    tiles.dedup();
    Ok(tiles)
}

/// The tiles that exist in a tree of `new_size` entries but not (at that
/// width) in a tree of `old_size` entries: what a static publisher writes
/// after growing the tree. Level by level, left to right.
pub fn new_tiles(old_size: u64, new_size: u64) -> Vec<TileId> {
    let mut tiles = Vec::new();
    if new_size > MAX_TREE_SIZE {
        return tiles;
    }
    for level in 0..=MAX_TILE_LEVEL {
        let new_count = hashes_at_tile_level(new_size, level);
        if new_count == 0 {
            break;
        }
        let old_count = hashes_at_tile_level(old_size.min(new_size), level);
        let width = u64::from(TILE_WIDTH);
        for index in old_count / width..new_count.div_ceil(width) {
            let new_width = width_at(new_count, index);
            if new_width.is_some() && new_width != width_at(old_count, index) {
                tiles.extend(new_width.and_then(|w| TileId::new(level, index, w)));
            }
        }
    }
    tiles
}

/// Tile bytes: the hashes concatenated.
pub fn encode_tile(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|hash| hash.0).collect()
}

/// Splits tile bytes into hashes, checking the length matches the tile's
/// width; never panics.
pub fn decode_tile(tile: TileId, data: &[u8]) -> Result<Vec<Hash>, TileError> {
    let expected = usize::from(tile.width) * HASH_SIZE;
    if data.len() != expected {
        return Err(TileError::WrongLength { expected, actual: data.len() });
    }
    Ok(data.chunks_exact(HASH_SIZE).filter_map(|chunk| Hash::from_slice(chunk).ok()).collect())
}

/// Builds a tile's bytes from a store of complete-subtree hashes (the
/// server side).
pub fn read_tile<R: HashReader + ?Sized>(reader: &R, tile: TileId) -> Result<Vec<u8>, ProveError> {
    let nodes: Vec<NodeId> = tile.nodes().collect();
    let hashes = reader.read_hashes(&nodes)?;
    if hashes.len() != nodes.len() {
        return Err(ReadError::Malformed(format!("asked for {} hashes, got {}", nodes.len(), hashes.len())).into());
    }
    Ok(encode_tile(&hashes))
}

/// Something that returns the bytes of a tile: an HTTP client with a cache,
/// a directory of static files, a map filled by parallel fetches.
pub trait TileReader {
    /// The bytes of `tile` (exactly `width * 32`, or the read fails later
    /// with [`ReadError::Malformed`]).
    fn read_tile(&self, tile: TileId) -> Result<Vec<u8>, ReadError>;
}

impl TileReader for BTreeMap<TileId, Vec<u8>> {
    fn read_tile(&self, tile: TileId) -> Result<Vec<u8>, ReadError> {
        self.get(&tile).cloned().ok_or_else(|| ReadError::Malformed(format!("tile {} was not fetched", tile.path())))
    }
}

impl<T: TileReader + ?Sized> TileReader for &T {
    fn read_tile(&self, tile: TileId) -> Result<Vec<u8>, ReadError> {
        (**self).read_tile(tile)
    }
}

/// A [`HashReader`] over the tiles of a tree of a given size: reads each
/// needed tile once per call and recomputes subtrees that fall between tile
/// levels.
#[derive(Debug, Clone)]
pub struct TileHashReader<T> {
    size: u64,
    tiles: T,
}

impl<T: TileReader> TileHashReader<T> {
    /// Reads the tree of `size` entries (the size of a checkpoint the caller
    /// has verified) from `tiles`.
    pub fn new(size: u64, tiles: T) -> Self {
        TileHashReader { size, tiles }
    }
}

impl<T: TileReader> HashReader for TileHashReader<T> {
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, ReadError> {
        let mut fetched: BTreeMap<TileId, Vec<Hash>> = BTreeMap::new();
        let mut hashes = Vec::with_capacity(nodes.len());
        for node in nodes {
            let tile = TileId::for_node(*node, self.size).ok_or(ReadError::Missing(*node))?;
            let tile_hashes = match fetched.entry(tile) {
                Entry::Occupied(cached) => cached.into_mut(),
                Entry::Vacant(slot) => {
                    let data = self.tiles.read_tile(tile)?;
                    let decoded = decode_tile(tile, &data)
                        .map_err(|error| ReadError::Malformed(format!("{}: {error}", tile.path())))?;
                    slot.insert(decoded)
                }
            };
            hashes.push(node_from_tile(*node, tile, tile_hashes)?);
        }
        Ok(hashes)
    }
}

/// Recomputes the hash of `node` from the hashes of the tile holding its
/// descendants at the tile's level.
fn node_from_tile(node: NodeId, tile: TileId, tile_hashes: &[Hash]) -> Result<Hash, ReadError> {
    let within = u32::from(node.level() % TILE_HEIGHT);
    let span = 1usize << within;
    let first = (node.index() << within)
        .checked_sub(tile.index * u64::from(TILE_WIDTH))
        .and_then(|first| usize::try_from(first).ok())
        .ok_or(ReadError::Missing(node))?;
    let mut layer: Vec<Hash> =
        tile_hashes.get(first..first.saturating_add(span)).ok_or(ReadError::Missing(node))?.to_vec();
    while layer.len() > 1 {
        layer = layer
            .chunks_exact(2)
            .map(|pair| match pair {
                [left, right] => node_hash(left, right),
                _ => Hash::default(),
            })
            .collect();
    }
    layer.first().copied().ok_or(ReadError::Missing(node))
}

/// Bundle bytes: each entry behind its big-endian u16 length.
pub fn encode_entry_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    if entries.is_empty() || entries.len() > usize::from(TILE_WIDTH) {
        return Err(TileError::BundleWidth(entries.len()));
    }
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.as_ref();
        let length = u16::try_from(entry.len()).map_err(|_| TileError::EntryTooLarge(entry.len()))?;
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Splits bundle bytes into exactly `bundle.width()` entries; never panics.
pub fn decode_entry_bundle(bundle: EntryBundleId, data: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    let mut entries = Vec::with_capacity(usize::from(bundle.width));
    let mut rest = data;
    while !rest.is_empty() {
        if entries.len() == usize::from(bundle.width) {
            return Err(TileError::MalformedBundle("more entries than the bundle width"));
        }
        let (length, tail) = rest.split_first_chunk::<2>().ok_or(TileError::MalformedBundle("truncated length"))?;
        let (entry, tail) = tail
            .split_at_checked(usize::from(u16::from_be_bytes(*length)))
            .ok_or(TileError::MalformedBundle("truncated entry"))?;
        entries.push(entry);
        rest = tail;
    }
    if entries.len() != usize::from(bundle.width) {
        return Err(TileError::MalformedBundle("fewer entries than the bundle width"));
    }
    Ok(entries)
}

/// The leaf hashes of a bundle's entries: they must equal the level 0 tile
/// of the same coordinates.
pub fn bundle_leaf_hashes(entries: &[&[u8]]) -> Vec<Hash> {
    entries.iter().map(|entry| leaf_hash(entry)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proof::{inclusion_plan, prove_consistency, prove_inclusion, tree_hash};
    use crate::tree::MemoryTree;

    #[test]
    fn paths_follow_the_spec_examples() {
        let tile = TileId::new(0, 1_234_067, 256).unwrap();
        assert_eq!(tile.path(), "tile/0/x001/x234/067");
        assert_eq!(TileId::new(1, 5, 7).unwrap().path(), "tile/1/005.p/7");
        assert_eq!(TileId::new(2, 1000, 256).unwrap().path(), "tile/2/x001/000");
        assert_eq!(EntryBundleId::new(0, 3).unwrap().path(), "tile/entries/000.p/3");
        for path in ["tile/0/x001/x234/067", "tile/1/005.p/7", "tile/7/000.p/1", "tile/entries/x001/000.p/255"] {
            let parsed = parse_tile_path(path).unwrap();
            let printed = match parsed {
                TilePath::Hashes(tile) => tile.path(),
                TilePath::Entries(bundle) => bundle.path(),
            };
            assert_eq!(printed, path);
        }
    }

    #[test]
    fn non_canonical_paths_are_rejected() {
        for path in [
            "",
            "tile/",
            "tile/0",
            "tile/0/",
            "tile/00/000",
            "tile/8/000",
            "tile/64/000",
            "tile/0/x000/001",
            "tile/0/1",
            "tile/0/0001",
            "tile/0/001/002",
            "tile/0/x001",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/07",
            "tile/0/000.p/",
            "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
            "tile/0/x018/x446/x744/x073/x709/x551/615",
            "tile/entries/abc",
            "/tile/0/000",
        ] {
            assert!(parse_tile_path(path).is_err(), "{path}");
        }
    }

    #[test]
    fn tree_of_70000_entries_has_the_spec_tiles() {
        let tiles = new_tiles(0, 70_000);
        let count =
            |level: u8, partial: bool| tiles.iter().filter(|t| t.level() == level && t.is_partial() == partial).count();
        assert_eq!(count(0, false), 273);
        assert_eq!(count(0, true), 1);
        assert_eq!(count(1, false), 1);
        assert_eq!(count(1, true), 1);
        assert_eq!(count(2, true), 1);
        assert_eq!(tiles.len(), 277);
        let partials: Vec<_> = tiles.iter().filter(|t| t.is_partial()).map(|t| t.width()).collect();
        assert_eq!(partials, vec![112, 17, 1]);
        // Size 256: one full level 0 tile and a level 1 tile of width 1.
        let tiles = new_tiles(0, 256);
        assert_eq!(tiles, vec![TileId::new(0, 0, 256).unwrap(), TileId::new(1, 0, 1).unwrap()]);
        // Growing from 256 to 300 adds a partial level 0 tile only.
        assert_eq!(new_tiles(256, 300), vec![TileId::new(0, 1, 44).unwrap()]);
        assert_eq!(new_tiles(300, 300), vec![]);
    }

    #[test]
    fn proofs_from_tiles_match_proofs_from_the_store() {
        let mut tree = MemoryTree::new();
        for i in 0u32..70_000 {
            tree.append(&i.to_be_bytes()).unwrap();
        }
        let size = tree.size();
        let mut served = BTreeMap::new();
        for tile in new_tiles(0, size) {
            served.insert(tile, read_tile(&tree, tile).unwrap());
        }
        let reader = TileHashReader::new(size, &served);
        assert_eq!(tree_hash(&reader, size).unwrap(), tree.root());
        for index in [0, 1, 255, 256, 65_535, 65_536, 69_999] {
            assert_eq!(prove_inclusion(&reader, index, size).unwrap(), prove_inclusion(&tree, index, size).unwrap());
        }
        for old in [1, 256, 1000, 65_536, 69_000] {
            assert_eq!(prove_consistency(&reader, old, size).unwrap(), prove_consistency(&tree, old, size).unwrap());
        }
        // A client fetches just the tiles a proof needs.
        let plan = inclusion_plan(12_345, size).unwrap();
        let needed = tiles_for_nodes(plan.nodes(), size).unwrap();
        assert!(needed.len() <= 4, "{needed:?}");
        let subset: BTreeMap<_, _> = needed.iter().map(|tile| (*tile, served[tile].clone())).collect();
        let path = plan.read(&TileHashReader::new(size, &subset)).unwrap();
        assert_eq!(path, tree.inclusion_proof(12_345, size).unwrap().path);
    }

    #[test]
    fn entry_bundles_round_trip_and_reject_garbage() {
        let entries: Vec<Vec<u8>> = (0u8..3).map(|i| vec![i; usize::from(i) * 10]).collect();
        let bundle = EntryBundleId::for_entry(1, 3).unwrap();
        assert_eq!(bundle.width(), 3);
        let data = encode_entry_bundle(&entries).unwrap();
        let decoded = decode_entry_bundle(bundle, &data).unwrap();
        assert_eq!(decoded, entries.iter().map(Vec::as_slice).collect::<Vec<_>>());
        for cut in 0..data.len() {
            assert!(decode_entry_bundle(bundle, &data[..cut]).is_err());
        }
        assert!(encode_entry_bundle(&[vec![0u8; 65_536]]).is_err());
        assert!(encode_entry_bundle::<Vec<u8>>(&[]).is_err());
        assert_eq!(
            decode_tile(TileId::new(0, 0, 2).unwrap(), &[0; 63]),
            Err(TileError::WrongLength { expected: 64, actual: 63 })
        );
    }
}
