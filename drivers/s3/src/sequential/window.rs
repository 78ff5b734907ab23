//! The bytes of one streamed GET that readers have not taken yet: a contiguous run
//! `[base, end)` of the object, fed at `end` by the network and drained at `base` as
//! reads are served. Pure bookkeeping, no I/O, so every rule is tested without a server.

use std::collections::{BTreeMap, VecDeque};

use bytes::{Buf, Bytes};

/// The most a stream holds: reads must fall within `[base, base + WINDOW_BYTES)` to be
/// served from it, and the network is not read past that. The host keeps 3 chunks of
/// 4 MiB in flight; this leaves room for them, the read-ahead, and one network piece.
pub(crate) const WINDOW_BYTES: u64 = 24 << 20;

/// How far past the furthest byte asked for the stream reads on its own, once it has
/// served two reads (a single read, or a probe of an object's head, reads no further
/// than asked, so it wastes no transfer).
pub(crate) const READ_AHEAD_BYTES: u64 = 8 << 20;

/// Buffered bytes of one stream and the reads it has served.
#[derive(Debug)]
pub(crate) struct Window {
    /// Offset of the first byte still held (every byte before it was served).
    base: u64,
    /// Bytes `[base, end)`, in order.
    pieces: VecDeque<Bytes>,
    /// Offset of the next byte the network will deliver.
    end: u64,
    /// The object's size; `u64::MAX` until the response says.
    size: u64,
    /// Ranges served above `base` (a later chunk served before an earlier one),
    /// start → end; `base` moves over them once the gap below is served.
    served: BTreeMap<u64, u64>,
    /// The furthest byte a reader has asked for.
    wanted_end: u64,
    /// Where the reads waiting now end (with how many end there), so the pump wakes
    /// readers when one can be served rather than on every network piece.
    waiting: BTreeMap<u64, u32>,
    /// Reads served so far; read-ahead starts at two.
    reads_served: u32,
}

impl Window {
    /// An empty window whose stream starts at `offset`.
    pub fn new(offset: u64) -> Self {
        Self {
            base: offset,
            pieces: VecDeque::new(),
            end: offset,
            size: u64::MAX,
            served: BTreeMap::new(),
            wanted_end: offset,
            waiting: BTreeMap::new(),
            reads_served: 0,
        }
    }

    /// Records the object's size, from the first response.
    pub fn set_size(&mut self, size: u64) {
        self.size = size;
    }

    /// Whether a read of `len` bytes at `offset` can be served from this stream: it
    /// starts at or after what was already served, inside the object, and ends within
    /// the window (anything else would need unbounded buffering, or bytes gone by).
    pub fn admits(&self, offset: u64, len: u64) -> bool {
        offset >= self.base
            && offset < self.size
            && offset.saturating_add(len) <= self.base.saturating_add(WINDOW_BYTES)
    }

    /// Whether a read at `offset` starts at or past the object's end (it reads nothing).
    pub fn reads_past_end(&self, offset: u64) -> bool {
        self.size != u64::MAX && offset >= self.size
    }

    /// The end of a read of `len` bytes at `offset`, clipped to the object.
    fn read_end(&self, offset: u64, len: u64) -> u64 {
        offset.saturating_add(len).min(self.size)
    }

    /// Notes that a reader waits for `[offset, offset + len)`, so the pump reads that
    /// far; returns where the read ends, to pass to [`Window::stop_waiting`].
    pub fn want(&mut self, offset: u64, len: u64) -> u64 {
        let end = self.read_end(offset, len);
        self.wanted_end = self.wanted_end.max(end);
        *self.waiting.entry(end).or_insert(0) += 1;
        end
    }

    /// Notes that a reader whose read ends at `end` no longer waits.
    pub fn stop_waiting(&mut self, end: u64) {
        if let Some(count) = self.waiting.get_mut(&end) {
            *count -= 1;
            if *count == 0 {
                self.waiting.remove(&end);
            }
        }
    }

    /// Whether some waiting reader's bytes have all arrived.
    pub fn serves_a_waiting_read(&self) -> bool {
        self.waiting
            .first_key_value()
            .is_some_and(|(&end, _)| end <= self.end || self.end >= self.size)
    }

    /// Whether every byte of the read has arrived (or the object ends before it does).
    pub fn holds(&self, offset: u64, len: u64) -> bool {
        self.size != u64::MAX && self.end >= self.read_end(offset, len)
    }

    /// Copies the read `[offset, offset + buf.len())`, clipped to the object, into
    /// `buf`, marks it served and drops bytes no admitted read can want any more.
    /// Call only when [`Window::holds`] and [`Window::admits`] say so.
    pub fn take(&mut self, offset: u64, buf: &mut [u8]) -> usize {
        let read_end = self.read_end(offset, buf.len() as u64);
        debug_assert!(offset >= self.base && read_end <= self.end);
        let mut skip = offset - self.base;
        let mut filled = 0;
        let want = usize::try_from(read_end.saturating_sub(offset)).unwrap_or(buf.len());
        for piece in &self.pieces {
            if filled == want {
                break;
            }
            let len = piece.len() as u64;
            if skip >= len {
                skip -= len;
                continue;
            }
            let from = &piece[skip as usize..];
            skip = 0;
            let n = from.len().min(want - filled);
            buf[filled..filled + n].copy_from_slice(&from[..n]);
            filled += n;
        }
        self.reads_served = self.reads_served.saturating_add(1);
        self.mark_served(offset, offset + filled as u64);
        filled
    }

    fn mark_served(&mut self, start: u64, end: u64) {
        let slot = self.served.entry(start).or_insert(end);
        *slot = (*slot).max(end);
        let mut base = self.base;
        while let Some(entry) = self.served.first_entry() {
            if *entry.key() > base {
                break;
            }
            base = base.max(entry.remove());
        }
        self.drop_front(base - self.base);
    }

    fn drop_front(&mut self, mut count: u64) {
        self.base += count;
        while count > 0 {
            let Some(front) = self.pieces.front_mut() else {
                break;
            };
            let len = front.len() as u64;
            if len <= count {
                count -= len;
                self.pieces.pop_front();
            } else {
                front.advance(count as usize);
                count = 0;
            }
        }
    }

    /// Appends bytes from the network, ignoring any past the object's end.
    pub fn push(&mut self, mut bytes: Bytes) {
        let room = self.size.saturating_sub(self.end);
        if (bytes.len() as u64) > room {
            bytes.truncate(room as usize);
        }
        if bytes.is_empty() {
            return;
        }
        self.end += bytes.len() as u64;
        self.pieces.push_back(bytes);
    }

    /// How far the network should be read now: what readers wait for, plus read-ahead
    /// once reads came in sequence, never past the window or the object.
    pub fn pump_target(&self) -> u64 {
        let ahead = if self.reads_served >= 2 {
            READ_AHEAD_BYTES
        } else {
            0
        };
        self.wanted_end
            .saturating_add(ahead)
            .min(self.base.saturating_add(WINDOW_BYTES))
            .min(self.size)
    }

    /// Offset of the next byte the network will deliver.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Whether the network delivered the whole rest of the object.
    pub fn complete(&self) -> bool {
        self.end >= self.size
    }

    /// Whether every byte was delivered and served: the stream has nothing left to give.
    pub fn drained(&self) -> bool {
        self.complete() && self.base >= self.size
    }

    /// Bytes held.
    #[cfg(test)]
    pub fn buffered(&self) -> u64 {
        self.end - self.base
    }

    /// Drops every held byte (the stream ended; its readers go elsewhere).
    pub fn clear(&mut self) {
        self.pieces.clear();
        self.served.clear();
        self.waiting.clear();
        self.base = self.end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn pattern(from: u64, len: usize) -> Bytes {
        (from..from + len as u64)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>()
            .into()
    }

    fn window_at(offset: u64, size: u64) -> Window {
        let mut w = Window::new(offset);
        w.set_size(size);
        w
    }

    #[test]
    fn serves_reads_in_any_order_and_frees_what_all_were_served() {
        let mut w = window_at(0, 12);
        // Odd piece sizes, so reads straddle pieces.
        w.push(pattern(0, 5));
        w.push(pattern(5, 7));
        assert!(w.holds(4, 4) && w.complete());
        let mut buf = [0u8; 4];
        assert_eq!(w.take(4, &mut buf), 4);
        assert_eq!(&buf[..], &pattern(4, 4)[..]);
        // The gap [0, 4) pins the bytes: nothing is freed yet.
        assert_eq!(w.buffered(), 12);
        assert_eq!(w.take(0, &mut buf), 4);
        assert_eq!(&buf[..], &pattern(0, 4)[..]);
        assert_eq!(w.buffered(), 4, "both reads served, base moved over both");
        assert!(!w.admits(4, 1), "bytes already served are not served again");
        // The last read is clipped to the object's end.
        let mut tail = [0u8; 10];
        assert_eq!(w.take(8, &mut tail), 4);
        assert_eq!(&tail[..4], &pattern(8, 4)[..]);
        assert!(w.drained());
    }

    #[test]
    fn admits_only_reads_inside_the_window_and_the_object() {
        let w = window_at(10 * MIB, 100 * MIB);
        assert!(w.admits(10 * MIB, 4 * MIB));
        assert!(w.admits(30 * MIB, 4 * MIB));
        assert!(!w.admits(32 * MIB, 4 * MIB), "past base + window");
        assert!(!w.admits(9 * MIB, 4 * MIB), "before the stream's start");
        assert!(!w.admits(100 * MIB, 1), "at the object's end");
        assert!(!w.admits(0, WINDOW_BYTES + 1));
        // Before the size is known, the window alone decides.
        assert!(Window::new(0).admits(20 * MIB, 4 * MIB));
        assert!(!Window::new(0).holds(0, 1), "nothing arrived, size unknown");
    }

    #[test]
    fn reads_ahead_only_after_two_reads_and_never_past_the_window() {
        let mut w = window_at(0, 1 << 40);
        w.want(0, 4 * MIB);
        assert_eq!(
            w.pump_target(),
            4 * MIB,
            "a first read fetches what it asks"
        );
        w.push(Bytes::from(vec![0u8; (8 * MIB) as usize]));
        let mut buf = vec![0u8; (4 * MIB) as usize];
        w.take(0, &mut buf);
        w.take(4 * MIB, &mut buf);
        w.want(8 * MIB, 4 * MIB);
        assert_eq!(w.pump_target(), 12 * MIB + READ_AHEAD_BYTES);
        w.want(28 * MIB, 4 * MIB);
        assert_eq!(
            w.pump_target(),
            8 * MIB + WINDOW_BYTES,
            "bounded by the window"
        );
        let small = window_at(0, 5);
        assert_eq!(small.pump_target(), 0);
        let mut small = small;
        small.want(0, 100);
        assert_eq!(small.pump_target(), 5, "bounded by the object");
    }

    #[test]
    fn wakes_readers_only_once_the_first_waiting_read_can_be_served() {
        let mut w = window_at(0, 100);
        assert!(!w.serves_a_waiting_read(), "nobody waits");
        let second = w.want(10, 10);
        let first = w.want(0, 10);
        assert_eq!((first, second), (10, 20));
        w.push(pattern(0, 9));
        assert!(!w.serves_a_waiting_read());
        w.push(pattern(9, 1));
        assert!(w.serves_a_waiting_read());
        w.stop_waiting(first);
        assert!(!w.serves_a_waiting_read(), "the other still lacks bytes");
        w.push(pattern(10, 10));
        assert!(w.serves_a_waiting_read());
        w.stop_waiting(second);
        assert!(!w.serves_a_waiting_read());
    }

    #[test]
    fn ignores_bytes_past_the_object_and_clears() {
        let mut w = window_at(3, 6);
        w.push(pattern(3, 10));
        assert_eq!(w.end(), 6);
        assert!(w.complete() && !w.drained());
        w.clear();
        assert_eq!(w.buffered(), 0);
        assert!(!w.admits(3, 1), "cleared bytes are not served");
    }
}
