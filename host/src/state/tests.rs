use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::db::{FILE_NAME, SCHEMA_VERSION};
use super::*;
use crate::identity::Identity;
use crate::manifest::sha256;

fn signer() -> PublicKey {
    Identity::from_secret_bytes(&[0x01; 32])
        .unwrap()
        .public_key()
}

#[test]
fn versions_only_go_up() {
    let dir = tempfile::tempdir().unwrap();
    let seen = VersionsSeen::open(dir.path()).unwrap();
    let signer = signer();
    assert_eq!(seen.get(&signer, "a").unwrap(), None);
    seen.record(&signer, "a", 3).unwrap();
    assert_eq!(seen.get(&signer, "a").unwrap(), Some(3));
    seen.record(&signer, "a", 2).unwrap();
    assert_eq!(seen.get(&signer, "a").unwrap(), Some(3));
    seen.record(&signer, "a", 3).unwrap();
    seen.record(&signer, "a", 10).unwrap();
    assert_eq!(seen.get(&signer, "a").unwrap(), Some(10));
    seen.record(&signer, "a", 0).unwrap();
    assert_eq!(seen.get(&signer, "a").unwrap(), Some(10));
}

#[test]
fn versions_are_per_signer_and_key_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let other = Identity::generate().public_key();
    {
        let seen = VersionsSeen::open(dir.path()).unwrap();
        seen.record(&signer(), "a", 5).unwrap();
        seen.record(&signer(), "b", 1).unwrap();
        seen.record(&other, "a", 9).unwrap();
    }
    let seen = VersionsSeen::open(dir.path()).unwrap();
    assert_eq!(seen.get(&signer(), "a").unwrap(), Some(5));
    assert_eq!(seen.get(&signer(), "b").unwrap(), Some(1));
    assert_eq!(seen.get(&other, "a").unwrap(), Some(9));
    assert_eq!(seen.get(&other, "b").unwrap(), None);
}

#[test]
fn versions_keep_their_order_across_the_whole_u64_range() {
    let dir = tempfile::tempdir().unwrap();
    let seen = VersionsSeen::open(dir.path()).unwrap();
    let beyond_i64 = i64::MAX as u64 + 1;
    seen.record(&signer(), "k", i64::MAX as u64).unwrap();
    seen.record(&signer(), "k", beyond_i64).unwrap();
    assert_eq!(seen.get(&signer(), "k").unwrap(), Some(beyond_i64));
    seen.record(&signer(), "k", 7).unwrap();
    seen.record(&signer(), "k", u64::MAX).unwrap();
    seen.record(&signer(), "k", beyond_i64).unwrap();
    assert_eq!(seen.get(&signer(), "k").unwrap(), Some(u64::MAX));
}

#[test]
fn the_database_is_created_private_beside_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let seen = VersionsSeen::open(&state).unwrap();
    seen.record(&signer(), "k", 1).unwrap();
    assert_eq!(seen.state_dir(), state);
    let mode = fs::metadata(state.join(FILE_NAME))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn concurrent_recorders_never_lower_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let seen = VersionsSeen::open(dir.path()).unwrap();
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let seen = seen.clone();
            std::thread::spawn(move || {
                for i in 0..50u64 {
                    seen.record(&signer(), "race", i * 8 + t).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(seen.get(&signer(), "race").unwrap(), Some(49 * 8 + 7));
}

/// Each thread opens the state dir itself, as separate processes do: separate
/// connections contend for SQLite's file locks, not for a mutex in this process.
#[test]
fn separate_connections_share_the_state_dir_without_lock_errors() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("fresh");
    let threads: Vec<_> = (0..6u64)
        .map(|t| {
            let state = state.clone();
            std::thread::spawn(move || {
                // Opening at once also races the database's creation.
                let seen = VersionsSeen::open(&state).unwrap();
                let journal = RepairJournal::open(&state).unwrap();
                for i in 0..60u64 {
                    seen.record(&signer(), "race", i * 6 + t).unwrap();
                    journal.add("shared", "same").unwrap();
                    journal.add(&format!("p{t}"), &format!("k{i}")).unwrap();
                    if i % 2 == 0 {
                        journal.remove(&format!("p{t}"), &format!("k{i}")).unwrap();
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let seen = VersionsSeen::open(&state).unwrap();
    assert_eq!(seen.get(&signer(), "race").unwrap(), Some(59 * 6 + 5));
    assert_eq!(
        RepairJournal::open(&state).unwrap().list().unwrap().len(),
        1 + 6 * 30
    );
}

#[test]
fn journal_adds_lists_and_removes() {
    let dir = tempfile::tempdir().unwrap();
    let journal = RepairJournal::open(dir.path()).unwrap();
    assert!(journal.list().unwrap().is_empty());
    journal.add("disk-b", "photos/x.jpg").unwrap();
    journal.add("disk-a", "notes\nwith newline").unwrap();
    journal.add("disk-b", "photos/x.jpg").unwrap();
    assert!(journal.contains("disk-b", "photos/x.jpg").unwrap());
    let reopened = RepairJournal::open(dir.path()).unwrap();
    assert_eq!(
        reopened.list().unwrap(),
        vec![
            ("disk-a".to_string(), "notes\nwith newline".to_string()),
            ("disk-b".to_string(), "photos/x.jpg".to_string())
        ]
    );
    reopened.remove("disk-b", "photos/x.jpg").unwrap();
    reopened.remove("disk-b", "photos/x.jpg").unwrap();
    assert!(!journal.contains("disk-b", "photos/x.jpg").unwrap());
    assert_eq!(journal.list().unwrap().len(), 1);
}

#[test]
fn a_batch_of_changes_lands_whole_in_one_update() {
    let dir = tempfile::tempdir().unwrap();
    let journal = RepairJournal::open(dir.path()).unwrap();
    journal.add("disk-a", "old").unwrap();
    let entry = |provider, key, missed| JournalEntry {
        provider,
        key,
        missed,
    };
    journal
        .update(&[
            entry("disk-a", "old", false),
            entry("disk-a", "new", false),
            entry("disk-b", "new", true),
            entry("disk-c", "other", true),
        ])
        .unwrap();
    assert_eq!(
        journal.list().unwrap(),
        vec![
            ("disk-b".to_string(), "new".to_string()),
            ("disk-c".to_string(), "other".to_string())
        ]
    );

    let seen = VersionsSeen::open(dir.path()).unwrap();
    let signer = signer();
    seen.record(&signer, "b", 9).unwrap();
    seen.record_all(&signer, &[("a", 2), ("b", 4), ("c", 7)])
        .unwrap();
    let newest = |key| seen.get(&signer, key).unwrap();
    assert_eq!(
        (newest("a"), newest("b"), newest("c")),
        (Some(2), Some(9), Some(7))
    );
}

#[test]
fn journal_tolerates_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let journal = RepairJournal::open(dir.path()).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let journal = journal.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    journal
                        .add(&format!("p{}", i % 3), &format!("k{t}-{i}"))
                        .unwrap();
                    journal.add("shared", "same").unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(journal.list().unwrap().len(), 101);
}

#[test]
fn a_state_dir_that_cannot_be_created_degrades_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the state directory should be: nothing can be created under it,
    // whoever runs the test (root included).
    let blocked = dir.path().join("state");
    fs::write(&blocked, "not a directory").unwrap();
    let versions = VersionsSeen::open(&blocked).unwrap();
    let journal = RepairJournal::open(&blocked).unwrap();
    let who = signer();
    assert_eq!(versions.get(&who, "k").unwrap(), None);
    versions.record(&who, "k", 3).unwrap();
    assert_eq!(journal.list().unwrap(), Vec::new());
    assert!(!journal.contains("a", "k").unwrap());
    journal.remove("a", "k").unwrap();
    let error = journal.add("a", "k").unwrap_err();
    assert!(
        matches!(error, StateError::Unwritable { .. }),
        "a write that needs it fails: {error}"
    );
}

/// Writes the old one-file-per-entry layout exactly as the old code did.
fn write_old_layout(
    state: &Path,
    versions: &[(&PublicKey, &str, &[u64])],
    journal: &[(&str, &str)],
) {
    for (signer, key, marks) in versions {
        let id = [&signer.serialize()[..], key.as_bytes()].concat();
        let entry = state.join("versions").join(hex::encode(sha256(&id)));
        fs::create_dir_all(&entry).unwrap();
        for mark in *marks {
            fs::write(entry.join(mark.to_string()), "").unwrap();
        }
    }
    let repair = state.join("repair");
    fs::create_dir_all(&repair).unwrap();
    for (provider, key) in journal {
        let mut id = provider.as_bytes().to_vec();
        id.push(0);
        id.extend_from_slice(key.as_bytes());
        let json = serde_json::json!({"provider": provider, "key": key});
        fs::write(
            repair.join(format!("{}.json", hex::encode(sha256(&id)))),
            serde_json::to_vec(&json).unwrap(),
        )
        .unwrap();
    }
}

#[test]
fn the_old_layout_is_imported_once_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let other = Identity::generate().public_key();
    write_old_layout(
        state,
        // Marks not yet pruned (a crash between creating one and pruning) count too.
        &[
            (&signer(), "a", &[3, 7]),
            (&signer(), "b", &[1]),
            (&other, "a", &[9]),
        ],
        &[
            ("disk-b", "photos/x.jpg"),
            ("disk-a", "notes\nwith newline"),
        ],
    );
    let repair = state.join("repair");
    // A write in progress when the old mirra stopped, and a damaged entry: both dropped.
    fs::write(repair.join(".x.json.tmp-1-0"), "partial").unwrap();
    fs::write(repair.join("bad.json"), "{").unwrap();

    let seen = VersionsSeen::open(state).unwrap();
    let journal = RepairJournal::open(state).unwrap();
    assert!(!state.join("versions").exists());
    assert!(!repair.exists());
    assert_eq!(seen.get(&signer(), "a").unwrap(), Some(7));
    assert_eq!(seen.get(&signer(), "b").unwrap(), Some(1));
    assert_eq!(seen.get(&other, "a").unwrap(), Some(9));
    assert_eq!(seen.get(&other, "b").unwrap(), None);
    assert_eq!(
        journal.list().unwrap(),
        vec![
            ("disk-a".to_string(), "notes\nwith newline".to_string()),
            ("disk-b".to_string(), "photos/x.jpg".to_string())
        ]
    );

    // An imported version still only goes up, and moves to its own row when recorded.
    seen.record(&signer(), "a", 5).unwrap();
    assert_eq!(seen.get(&signer(), "a").unwrap(), Some(7));
    seen.record(&signer(), "b", 4).unwrap();
    assert_eq!(seen.get(&signer(), "b").unwrap(), Some(4));
    let raw = rusqlite::Connection::open(state.join(FILE_NAME)).unwrap();
    let legacy: i64 = raw
        .query_row("SELECT count(*) FROM legacy_versions_seen", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        legacy, 2,
        "b's moved out; a's and the other signer's remain"
    );
    drop(raw);

    journal.remove("disk-b", "photos/x.jpg").unwrap();
    let reopened = RepairJournal::open(state).unwrap();
    assert_eq!(reopened.list().unwrap().len(), 1, "nothing imported twice");
}

#[test]
fn an_old_layout_appearing_later_is_imported_into_the_existing_database() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let seen = VersionsSeen::open(state).unwrap();
    seen.record(&signer(), "a", 10).unwrap();
    // An old mirra, still running, wrote after the first import.
    write_old_layout(
        state,
        &[(&signer(), "a", &[4]), (&signer(), "c", &[2])],
        &[("p", "k")],
    );
    let seen = VersionsSeen::open(state).unwrap();
    assert_eq!(seen.get(&signer(), "a").unwrap(), Some(10));
    assert_eq!(seen.get(&signer(), "c").unwrap(), Some(2));
    let journal = RepairJournal::open(state).unwrap();
    assert!(journal.contains("p", "k").unwrap());
    assert!(!state.join("versions").exists() && !state.join("repair").exists());
}

#[test]
fn a_database_from_a_newer_mirra_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    VersionsSeen::open(dir.path()).unwrap();
    let path = dir.path().join(FILE_NAME);
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let error = VersionsSeen::open(dir.path()).unwrap_err();
    assert!(matches!(error, StateError::NewerSchema { .. }), "{error}");
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
    assert!(RepairJournal::open(dir.path()).is_err());
}

#[test]
fn a_corrupt_database_is_a_clear_error_saying_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    fs::write(&path, "this is not what mirra writes\n".repeat(200)).unwrap();
    for error in [
        VersionsSeen::open(dir.path()).unwrap_err(),
        RepairJournal::open(dir.path()).unwrap_err(),
    ] {
        assert!(matches!(error, StateError::Corrupt { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("move it aside"), "{message}");
    }
    // Moved aside, a new one is started.
    fs::rename(&path, dir.path().join("state.sqlite.bad")).unwrap();
    let seen = VersionsSeen::open(dir.path()).unwrap();
    seen.record(&signer(), "k", 1).unwrap();
    assert_eq!(seen.get(&signer(), "k").unwrap(), Some(1));
}
