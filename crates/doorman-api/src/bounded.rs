//! Log indexes and counters the API reads from a query: the databases store
//! them as signed 64-bit integers, so a larger number cannot name anything
//! and is refused as malformed (400) while the request is parsed, instead of
//! failing in the database.

use serde::{de::Error, Deserialize, Deserializer};

/// The largest log index, tree size or counter the API accepts (i64::MAX).
pub const MAX_INDEX: u64 = i64::MAX as u64;

/// Checks one value against [`MAX_INDEX`].
pub fn check(value: u64) -> Result<u64, String> {
    if value > MAX_INDEX {
        Err(format!("{value} is out of range (at most {MAX_INDEX})"))
    } else {
        Ok(value)
    }
}

/// `deserialize_with` for a required index.
pub fn index<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    check(u64::deserialize(d)?).map_err(D::Error::custom)
}

/// `deserialize_with` for an optional index (with `#[serde(default)]`).
pub fn opt_index<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<u64>::deserialize(d)?.map(check).transpose().map_err(D::Error::custom)
}

#[cfg(test)]
mod tests {
    #[test]
    fn indexes_above_i64_max_are_refused() {
        assert_eq!(super::check(i64::MAX as u64), Ok(i64::MAX as u64));
        assert!(super::check(i64::MAX as u64 + 1).is_err());
    }
}
