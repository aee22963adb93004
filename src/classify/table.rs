//! The bucket table that scoring reads: for every hash bucket, the quantized idf and the
//! three heads' quantized weights, 8 bytes (little-endian `u16` idf, then three `i16`).
//!
//! At 2^21 buckets the table is 16 MiB and every feature of a comment reads one bucket
//! at random, so on 4 KiB pages most lookups also miss the TLB (4,096 pages against a
//! second-level TLB of 1,536-3,072 entries on current x86 cores). The table therefore
//! lives in its own anonymous mapping, aligned to 2 MiB, that the kernel is asked to back
//! with transparent huge pages (8 pages in all). Where the kernel declines (THP set to
//! `never`, or not Linux) it is the same table on ordinary pages. BENCHMARKS.md has what
//! it saves.

use memmap2::{MmapMut, MmapOptions};

/// One bucket of the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Bucket {
    pub idf: u16,
    pub weights: [i16; 3],
}

pub(super) const BUCKET_BYTES: usize = 8;
const HUGE_PAGE: usize = 2 << 20;

pub(super) struct BucketTable {
    memory: Memory,
    /// Where the table starts in `memory` (the first 2 MiB boundary of the mapping).
    offset: usize,
    buckets: usize,
}

enum Memory {
    Mapped(MmapMut),
    /// When the mapping cannot be made (an address-space limit): the table on the heap.
    Heap(Vec<u8>),
}

impl BucketTable {
    /// A table of `buckets` zeroed buckets.
    pub fn zeroed(buckets: usize) -> Self {
        let bytes = buckets * BUCKET_BYTES;
        // One huge page more than needed, so the table can start on a 2 MiB boundary:
        // a huge page must be aligned, and mmap only aligns to 4 KiB.
        match MmapOptions::new().len(bytes + HUGE_PAGE).map_anon() {
            Ok(map) => {
                let offset = map.as_ptr().align_offset(HUGE_PAGE).min(HUGE_PAGE);
                // Advice only: where the kernel declines, the table is on small pages.
                advise_huge_pages(&map);
                Self {
                    memory: Memory::Mapped(map),
                    offset,
                    buckets,
                }
            }
            Err(_) => Self::on_heap(buckets),
        }
    }

    fn on_heap(buckets: usize) -> Self {
        Self {
            memory: Memory::Heap(vec![0u8; buckets * BUCKET_BYTES]),
            offset: 0,
            buckets,
        }
    }

    fn bytes(&self) -> &[u8] {
        let all: &[u8] = match &self.memory {
            Memory::Mapped(map) => map,
            Memory::Heap(vec) => vec,
        };
        &all[self.offset..self.offset + self.buckets * BUCKET_BYTES]
    }

    /// The buckets as raw 8-byte words; index them with [`read`].
    #[inline]
    pub fn words(&self) -> &[[u8; BUCKET_BYTES]] {
        self.bytes().as_chunks().0
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        let all: &mut [u8] = match &mut self.memory {
            Memory::Mapped(map) => map,
            Memory::Heap(vec) => vec,
        };
        &mut all[self.offset..self.offset + self.buckets * BUCKET_BYTES]
    }

    #[inline]
    pub fn get(&self, bucket: usize) -> Bucket {
        read(self.words(), bucket)
    }

    /// Changes one bucket in place.
    pub fn update(&mut self, bucket: usize, change: impl FnOnce(&mut Bucket)) {
        let mut value = self.get(bucket);
        change(&mut value);
        let bytes = self.bytes_mut();
        let slot = &mut bytes[bucket * BUCKET_BYTES..(bucket + 1) * BUCKET_BYTES];
        slot[0..2].copy_from_slice(&value.idf.to_le_bytes());
        for (h, weight) in value.weights.iter().enumerate() {
            slot[2 + 2 * h..4 + 2 * h].copy_from_slice(&weight.to_le_bytes());
        }
    }
}

impl std::fmt::Debug for BucketTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketTable")
            .field("buckets", &self.buckets)
            .field("mapped", &matches!(self.memory, Memory::Mapped(_)))
            .finish()
    }
}

/// Bucket `bucket` of a table's [`BucketTable::words`].
#[inline(always)]
pub(super) fn read(words: &[[u8; BUCKET_BYTES]], bucket: usize) -> Bucket {
    // Field by field from the word in memory: each becomes one sign- or zero-extending
    // load, cheaper in the scoring loop than one 8-byte load taken apart with shifts.
    let w = &words[bucket];
    Bucket {
        idf: u16::from_le_bytes([w[0], w[1]]),
        weights: [
            i16::from_le_bytes([w[2], w[3]]),
            i16::from_le_bytes([w[4], w[5]]),
            i16::from_le_bytes([w[6], w[7]]),
        ],
    }
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(map: &MmapMut) {
    let _ = map.advise(memmap2::Advice::HugePage);
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_map: &MmapMut) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_read_back_what_was_written_and_start_zeroed() {
        for mut table in [BucketTable::zeroed(1 << 12), BucketTable::on_heap(1 << 12)] {
            check_reads_and_writes(&mut table);
        }
    }

    fn check_reads_and_writes(table: &mut BucketTable) {
        assert_eq!(table.words().len(), 1 << 12);
        assert_eq!(table.get(17), Bucket::default());
        let written = Bucket {
            idf: 65_535,
            weights: [-32_768, 1, 32_767],
        };
        table.update(17, |b| *b = written);
        table.update(18, |b| b.weights[1] = -5);
        assert_eq!(table.get(17), written);
        assert_eq!(table.get(18).weights, [0, -5, 0]);
        assert_eq!(table.get(16), Bucket::default());
        assert_eq!(table.get((1 << 12) - 1), Bucket::default());
    }

    #[test]
    fn the_mapped_table_starts_on_a_huge_page_boundary() {
        let table = BucketTable::zeroed(1 << 21);
        if let Memory::Mapped(_) = table.memory {
            assert_eq!(table.bytes().as_ptr() as usize % HUGE_PAGE, 0);
        }
        assert_eq!(table.bytes().len(), (1 << 21) * BUCKET_BYTES);
    }
}
