//! The store's key for a hop: (host, queue ID).
//!
//! Maps keyed by it (`HopMap`) are looked up with a borrowed `KeyRef`, so filing a line
//! copies neither its host nor its queue ID; an owned key is made only when an entry is
//! inserted. std's `HashMap` cannot do this (a key of two `&str` is no `Borrow` of two
//! `String`s); hashbrown's `Equivalent` can.

use hashbrown::Equivalent;
use serde::{Deserialize, Serialize};

/// A map keyed by hop, looked up by `KeyRef`.
pub(super) type HopMap<V> = hashbrown::HashMap<HopKey, V, foldhash::fast::RandomState>;

/// An owned hop key, as the maps store it (and the state persists it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) struct HopKey {
    pub host: String,
    pub queue_id: String,
}

/// A hop key borrowed from a line or a hop. It hashes as the `HopKey` with the same parts
/// (both derive `Hash` over the same fields in the same order: `str` either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct KeyRef<'a> {
    pub host: &'a str,
    pub queue_id: &'a str,
}

impl HopKey {
    pub fn as_ref(&self) -> KeyRef<'_> {
        KeyRef {
            host: &self.host,
            queue_id: &self.queue_id,
        }
    }
}

impl KeyRef<'_> {
    pub fn to_owned(self) -> HopKey {
        HopKey {
            host: self.host.to_string(),
            queue_id: self.queue_id.to_string(),
        }
    }
}

impl Equivalent<HopKey> for KeyRef<'_> {
    fn equivalent(&self, key: &HopKey) -> bool {
        self.queue_id == key.queue_id && self.host == key.host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An owned key and its borrowed form find the same entry; keys that differ only in
    /// where the host ends and the queue ID begins are different entries.
    #[test]
    fn borrowed_keys_find_owned_entries() {
        let mut map: HopMap<u32> = HopMap::default();
        let key = HopKey {
            host: "mx1".into(),
            queue_id: "4AB2C3".into(),
        };
        map.insert(key.clone(), 7);
        assert_eq!(map.get(&key.as_ref()), Some(&7));
        assert_eq!(map.get(&key), Some(&7));
        let shifted = KeyRef {
            host: "mx14",
            queue_id: "AB2C3",
        };
        assert_eq!(map.get(&shifted), None);
        map.insert(shifted.to_owned(), 8);
        assert_eq!(map.len(), 2);
        assert_eq!(map.get(&shifted), Some(&8));
        assert_eq!(map.remove(&key.as_ref()), Some(7));
        assert_eq!(map.get(&shifted.to_owned()), Some(&8));
    }
}
