//! Hashing an object while it streams past: whole-object and per-chunk SHA-256.

use sha2::{Digest, Sha256};

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-256 of the empty string: the hash every zero-length object and tombstone carries.
pub const EMPTY_SHA256: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Computes a manifest's hashes in one pass over data fed in pieces of any size.
///
/// Memory stays constant: only the running hashes and one 32-byte hash per finished
/// chunk are kept, never the data.
#[derive(Clone)]
pub struct ChunkHasher {
    chunk_size: u64,
    whole: Sha256,
    chunk: Sha256,
    in_chunk: u64,
    chunks: Vec<[u8; 32]>,
    size: u64,
}

impl ChunkHasher {
    /// A hasher cutting chunks of `chunk_size` bytes.
    ///
    /// # Panics
    /// If `chunk_size` is zero (config loading refuses such a value).
    pub fn new(chunk_size: u64) -> ChunkHasher {
        assert!(chunk_size > 0, "chunk size must be positive");
        ChunkHasher {
            chunk_size,
            whole: Sha256::new(),
            chunk: Sha256::new(),
            in_chunk: 0,
            chunks: Vec::new(),
            size: 0,
        }
    }

    /// Feeds the next bytes of the object.
    pub fn update(&mut self, mut data: &[u8]) {
        self.whole.update(data);
        self.size += data.len() as u64;
        while !data.is_empty() {
            let room = self.chunk_size - self.in_chunk;
            let take = data.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            self.chunk.update(&data[..take]);
            self.in_chunk += take as u64;
            data = &data[take..];
            if self.in_chunk == self.chunk_size {
                self.close_chunk();
            }
        }
    }

    /// Bytes fed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Hashes of the chunks completed so far.
    pub fn completed_chunks(&self) -> &[[u8; 32]] {
        &self.chunks
    }

    /// Ends the object: `(sha256 of everything, sha256 of each chunk, total size)`.
    ///
    /// A zero-length object has zero chunks; the last chunk may be shorter.
    pub fn finish(mut self) -> ([u8; 32], Vec<[u8; 32]>, u64) {
        if self.in_chunk > 0 {
            self.close_chunk();
        }
        (self.whole.finalize().into(), self.chunks, self.size)
    }

    fn close_chunk(&mut self) {
        let finished = std::mem::replace(&mut self.chunk, Sha256::new());
        self.chunks.push(finished.finalize().into());
        self.in_chunk = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_has_no_chunks() {
        let (whole, chunks, size) = ChunkHasher::new(4).finish();
        assert_eq!(whole, EMPTY_SHA256);
        assert_eq!(whole, sha256(b""));
        assert!(chunks.is_empty());
        assert_eq!(size, 0);
    }

    #[test]
    fn pieces_of_any_size_give_the_same_hashes() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let expected_chunks: Vec<[u8; 32]> = data.chunks(64).map(sha256).collect();
        for piece in [1, 3, 63, 64, 65, 1000] {
            let mut hasher = ChunkHasher::new(64);
            for part in data.chunks(piece) {
                hasher.update(part);
            }
            assert_eq!(hasher.size(), 1000);
            let (whole, chunks, size) = hasher.finish();
            assert_eq!(whole, sha256(&data));
            assert_eq!(chunks, expected_chunks, "piece size {piece}");
            assert_eq!(size, 1000);
        }
    }

    #[test]
    fn exact_multiple_has_no_empty_trailing_chunk() {
        let mut hasher = ChunkHasher::new(4);
        hasher.update(b"abcdefgh");
        assert_eq!(hasher.completed_chunks().len(), 2);
        let (_, chunks, _) = hasher.finish();
        assert_eq!(chunks, vec![sha256(b"abcd"), sha256(b"efgh")]);
    }
}
