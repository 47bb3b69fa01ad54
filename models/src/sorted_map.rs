//! A map in one vector sorted by key, for an index built once and then only read (the
//! checkers' `Facts`, the run summary's message causes).

/// A map in one vector sorted by key: lookups and ordered iteration as a `BTreeMap` gives
/// them, in about half its memory, for an index that is built once and then only read (the
/// largest parts of the checkers' `Facts`: at a million tenants a `BTreeMap` of the messages
/// alone took about 45 bytes per entry, this one 24).
#[derive(Debug)]
pub struct SortedMap<K, V>(Vec<(K, V)>);

impl<K: Ord + Copy, V> SortedMap<K, V> {
    /// The pairs, in the order they were recorded, keyed as `BTreeMap::insert` (`first`:
    /// false, the last pair of a key wins) or `entry().or_insert` (`first`: true) would.
    pub fn from_pairs(mut pairs: Vec<(K, V)>, first: bool) -> Self {
        // Stable: pairs of one key keep their recording order.
        pairs.sort_by_key(|(k, _)| *k);
        if first {
            pairs.dedup_by_key(|(k, _)| *k);
        } else {
            // `dedup` keeps the first of a run: reverse each run's winner to its front.
            let mut i = 0;
            while i < pairs.len() {
                let mut j = i + 1;
                while j < pairs.len() && pairs[j].0 == pairs[i].0 {
                    j += 1;
                }
                pairs.swap(i, j - 1);
                i = j;
            }
            pairs.dedup_by_key(|(k, _)| *k);
        }
        pairs.shrink_to_fit();
        SortedMap(pairs)
    }
    pub fn get(&self, k: &K) -> Option<&V> {
        self.0
            .binary_search_by(|(x, _)| x.cmp(k))
            .ok()
            .map(|i| &self.0[i].1)
    }
    pub fn contains_key(&self, k: &K) -> bool {
        self.get(k).is_some()
    }
    /// In key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a, K: Ord + Copy, V> IntoIterator for &'a SortedMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;
    fn into_iter(self) -> Self::IntoIter {
        fn pair<K, V>((k, v): &(K, V)) -> (&K, &V) {
            (k, v)
        }
        self.0.iter().map(pair as fn(&'a (K, V)) -> (&'a K, &'a V))
    }
}

#[cfg(test)]
mod tests {
    use super::SortedMap;
    use std::collections::BTreeMap;

    #[test]
    fn sorted_map_keys_as_insert_or_entry_would() {
        // Pairs in recording order, with repeated keys (3 three times, 1 twice).
        let pairs: Vec<(u32, char)> =
            vec![(3, 'a'), (1, 'b'), (3, 'c'), (2, 'd'), (1, 'e'), (3, 'f')];
        let mut last = BTreeMap::new();
        let mut first = BTreeMap::new();
        for (k, v) in &pairs {
            last.insert(*k, *v);
            first.entry(*k).or_insert(*v);
        }
        for (keep_first, want) in [(false, last), (true, first)] {
            let m = SortedMap::from_pairs(pairs.clone(), keep_first);
            let got: Vec<(u32, char)> = m.iter().map(|(k, v)| (*k, *v)).collect();
            let want_pairs: Vec<(u32, char)> = want.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(got, want_pairs, "keep_first={keep_first}");
            assert_eq!((&m).into_iter().count(), want.len());
            assert_eq!(m.values().count(), want.len());
            for k in 0..5 {
                assert_eq!(m.get(&k), want.get(&k));
                assert_eq!(m.contains_key(&k), want.contains_key(&k));
            }
        }
        assert!(SortedMap::<u32, char>::from_pairs(Vec::new(), true).is_empty());
    }
}
