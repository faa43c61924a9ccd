//! An in-memory Bloom filter over the execution index keys.
//!
//! Almost every execution a writer sees is new. Without the filter each one costs a
//! B-tree lookup in the `executions` table before its insert; with it, a new id is
//! known absent from a few bit probes, and only possible duplicates (true ones plus
//! ~1% false positives) go to the table, which stays the exact answer.
//!
//! It is rebuilt from the table when a writer opens, and grows by rebuilding when it
//! fills up, so it never holds state the table does not.
//!
//! The filter is blocked: all probes of a key fall in one 64-byte block (one cache
//! line), so a lookup in a filter of tens of MiB costs one cache miss instead of seven,
//! for a slightly higher false-positive rate (~1% at 10 bits per key).

/// Bits per key at the target load: ~1% false positives with `PROBES` probes.
const BITS_PER_KEY: u64 = 10;

/// Probes per key (optimal for 10 bits per key is ~7).
const PROBES: u64 = 7;

/// Smallest filter: 1 Mi bits (128 KiB), enough for ~100 k executions.
const MIN_BITS: u64 = 1 << 20;

/// Words per block: 8 × 64 bits = one 64-byte cache line.
const BLOCK_WORDS: u64 = 8;

/// A Bloom filter of 64-bit keys that are already uniformly distributed (blake3).
#[derive(Debug, Clone)]
pub struct ExecFilter {
    words: Vec<u64>,
    /// Bits in the filter minus one (a power of two).
    mask: u64,
    keys: u64,
}

impl ExecFilter {
    /// A filter sized for `expected` keys.
    pub fn with_capacity(expected: u64) -> ExecFilter {
        let bits = (expected.saturating_mul(BITS_PER_KEY * 2))
            .max(MIN_BITS)
            .next_power_of_two();
        ExecFilter {
            words: vec![0; (bits / 64) as usize],
            mask: bits - 1,
            keys: 0,
        }
    }

    /// Keys inserted.
    pub fn len(&self) -> u64 {
        self.keys
    }

    /// True when the filter is past its target load and should be rebuilt larger.
    pub fn is_full(&self) -> bool {
        self.keys.saturating_mul(BITS_PER_KEY) > self.mask + 1
    }

    /// Add a key.
    pub fn insert(&mut self, key: u64) {
        for bit in Self::bits(key, self.mask) {
            self.words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        self.keys += 1;
    }

    /// Touch the block of each key, so that the `may_contain` and `insert` that follow
    /// for them hit the cache. The filter is tens of MiB and keys are uniform, so each
    /// probe alone is a cache miss (~100 ns) the core waits for; these loads are
    /// independent of each other, so the core overlaps their misses instead.
    pub fn warm(&self, keys: impl Iterator<Item = u64>) {
        let block_bits = 64 * BLOCK_WORDS;
        let mut sum = 0u64;
        for key in keys {
            if let Some(bit) = Self::bits(key, self.mask).next() {
                sum = sum.wrapping_add(self.words[((bit & !(block_bits - 1)) / 64) as usize]);
            }
        }
        // Keeps the loads from being optimized away; the value means nothing.
        std::hint::black_box(sum);
    }

    /// False when `key` was certainly never inserted.
    pub fn may_contain(&self, key: u64) -> bool {
        Self::bits(key, self.mask)
            .all(|bit| self.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }

    /// The probed bits: the block from a multiplicative mix of the key, the 9-bit
    /// offsets inside it from successive slices of the key itself.
    fn bits(key: u64, mask: u64) -> impl Iterator<Item = u64> {
        let block_bits = 64 * BLOCK_WORDS;
        let block =
            key.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29) & mask & !(block_bits - 1);
        let offsets = key;
        (0..PROBES).map(move |i| block + ((offsets >> (i * 9)) & (block_bits - 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> u64 {
        let bytes = blake3::hash(&i.to_le_bytes());
        u64::from_le_bytes(bytes.as_bytes()[..8].try_into().unwrap())
    }

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut f = ExecFilter::with_capacity(50_000);
        for i in 0..50_000 {
            f.insert(key(i));
        }
        assert!((0..50_000).all(|i| f.may_contain(key(i))));
        let false_positives = (50_000..150_000).filter(|&i| f.may_contain(key(i))).count();
        assert!(
            false_positives < 2_000,
            "{false_positives} false positives in 100k"
        );
        assert!(!f.is_full());
    }

    #[test]
    fn false_positives_stay_near_one_percent_at_full_load() {
        let mut f = ExecFilter::with_capacity(0);
        let mut n = 0;
        while !f.is_full() {
            f.insert(key(n));
            n += 1;
        }
        let trials = 200_000;
        let false_positives = (n..n + trials).filter(|&i| f.may_contain(key(i))).count();
        let rate = false_positives as f64 / trials as f64;
        assert!(rate < 0.025, "{rate} false-positive rate at {n} keys");
    }
}
