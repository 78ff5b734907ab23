//! Local copies of objects: downloads that later reads are served from, and the
//! bytes of a streamed write until it is uploaded.
//!
//! The mega crate only downloads whole files (it checks MEGA's MAC over the whole
//! object), while the host reads an object in pieces. So the first read of an object
//! downloads it into an unnamed temporary file and the following reads of that object
//! are served from it. The copy is keyed by MEGA's node handle, and a node's content
//! never changes (a new upload is a new node), so a copy is never stale.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How many downloaded objects are kept for later reads.
const KEEP_FILES: usize = 8;
/// And at most this many bytes of them (the most recent one is always kept).
const KEEP_BYTES: u64 = 512 << 20;

/// The provider's spool: where temporary files go and the recent downloads.
pub(crate) struct Spool {
    dir: Option<PathBuf>,
    recent: Mutex<VecDeque<Download>>,
}

/// A downloaded object.
#[derive(Clone)]
pub(crate) struct Download {
    /// The MEGA node it is a copy of.
    pub handle: String,
    pub file: Arc<File>,
    pub size: u64,
}

impl Spool {
    /// A spool in `dir`, or in the system's temporary directory.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            recent: Mutex::new(VecDeque::new()),
        }
    }

    /// A new temporary file: unnamed where the system allows (gone when closed, even
    /// after a crash), created mode 0600 either way.
    pub fn temp_file(&self) -> io::Result<File> {
        match &self.dir {
            Some(dir) => tempfile::tempfile_in(dir),
            None => tempfile::tempfile(),
        }
    }

    /// The local copy of node `handle`, if one is kept.
    pub fn cached(&self, handle: &str) -> Option<Download> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.iter().find(|d| d.handle == handle).cloned()
    }

    /// Keeps `download` for later reads, forgetting the oldest copies past the limits.
    pub fn keep(&self, download: Download) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.retain(|d| d.handle != download.handle);
        recent.push_front(download);
        while recent.len() > 1
            && (recent.len() > KEEP_FILES
                || recent.iter().map(|d| d.size).sum::<u64>() > KEEP_BYTES)
        {
            recent.pop_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::FileExt;

    fn download(spool: &Spool, handle: &str, size: u64) -> Download {
        let mut file = spool.temp_file().unwrap();
        file.write_all(handle.as_bytes()).unwrap();
        Download {
            handle: handle.into(),
            file: Arc::new(file),
            size,
        }
    }

    #[test]
    fn keeps_recent_downloads_within_the_limits() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(Some(dir.path().to_owned()));
        for i in 0..KEEP_FILES + 2 {
            spool.keep(download(&spool, &format!("h{i}"), 10));
        }
        assert!(spool.cached("h0").is_none());
        assert!(spool.cached("h1").is_none());
        let last = spool.cached(&format!("h{}", KEEP_FILES + 1)).unwrap();
        let mut buf = [0u8; 2];
        last.file.read_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"h9");
        // One huge object pushes out every other, but is itself kept.
        spool.keep(download(&spool, "big", KEEP_BYTES + 1));
        assert!(spool.cached("big").is_some());
        assert!(spool.cached("h9").is_none());
        // Unnamed files: nothing is left in the spool directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
