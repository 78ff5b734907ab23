//! The state database: opening it, its schema, and the queries behind the state types.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};
use secp256k1::PublicKey;

use super::{legacy, JournalEntry, StateError, BUSY_TIMEOUT};

/// The database's name inside the state dir.
pub(super) const FILE_NAME: &str = "state.sqlite";

/// The schema this mirra writes, kept in `PRAGMA user_version` (0: a new, empty file).
pub(super) const SCHEMA_VERSION: i64 = 1;

/// Versions are `u64`, SQLite integers `i64`: a version is stored as 8 big-endian bytes,
/// which SQLite compares (and `max()` picks) in numeric order.
const SCHEMA: &str = "
    CREATE TABLE versions_seen (
        signer BLOB NOT NULL,   -- 33-byte compressed secp256k1 public key
        key TEXT NOT NULL,
        version BLOB NOT NULL CHECK (length(version) = 8),
        PRIMARY KEY (signer, key)
    ) WITHOUT ROWID;
    -- Imported from the old versions/<sha256(signer ‖ key)>/ directories, whose names
    -- do not say the signer and key; folded into versions_seen when the key is recorded.
    CREATE TABLE legacy_versions_seen (
        entry BLOB PRIMARY KEY, -- sha256(signer ‖ key)
        version BLOB NOT NULL CHECK (length(version) = 8)
    ) WITHOUT ROWID;
    CREATE TABLE repair_journal (
        provider TEXT NOT NULL,
        key TEXT NOT NULL,
        PRIMARY KEY (provider, key)
    ) WITHOUT ROWID;
";

/// One connection to a state dir's database, shared by clones.
#[derive(Debug, Clone)]
pub(super) struct StateDb {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state_dir: PathBuf,
    path: PathBuf,
    /// `None` when not even a read-only connection could be made.
    connection: Option<Mutex<Connection>>,
    /// Why nothing can be written, if so.
    unwritable: Option<String>,
}

impl StateDb {
    /// Opens (creating if need be) `<state_dir>/state.sqlite` and imports any state kept
    /// in the old layout. A state dir that cannot be written gives a read-only (or, if
    /// even that fails, an empty) database whose writes fail with `Unwritable`.
    pub(super) fn open(state_dir: &Path) -> Result<StateDb, StateError> {
        let path = state_dir.join(FILE_NAME);
        let (connection, unwritable) = match open_writable_patiently(state_dir, &path) {
            Ok(connection) => (Some(connection), None),
            Err(StateError::Unwritable { reason, .. }) => (open_read_only(&path)?, Some(reason)),
            Err(e) => return Err(e),
        };
        Ok(StateDb {
            shared: Arc::new(Shared {
                state_dir: state_dir.to_path_buf(),
                path,
                connection: connection.map(Mutex::new),
                unwritable,
            }),
        })
    }

    /// Why writes fail, when the state dir cannot be written.
    pub(super) fn unwritable(&self) -> Option<StateError> {
        self.shared
            .unwritable
            .as_ref()
            .map(|reason| StateError::Unwritable {
                path: self.shared.path.clone(),
                reason: reason.clone(),
            })
    }

    pub(super) fn state_dir(&self) -> &Path {
        &self.shared.state_dir
    }

    /// The newest version recorded for (`signer`, `key`), under its own row or, imported
    /// from the old layout, under its hash.
    pub(super) fn newest_version(
        &self,
        signer: &PublicKey,
        key: &str,
    ) -> Result<Option<u64>, StateError> {
        let found = self.read(|c| {
            c.prepare_cached(
                "SELECT max(version) FROM (
                     SELECT version FROM versions_seen WHERE signer = ?1 AND key = ?2
                     UNION ALL
                     SELECT version FROM legacy_versions_seen WHERE entry = ?3)",
            )?
            .query_row(
                params![&signer.serialize()[..], key, &legacy_entry(signer, key)[..]],
                |row| row.get::<_, Option<Vec<u8>>>(0),
            )
        })?;
        found.flatten().map(|v| self.decode_version(&v)).transpose()
    }

    /// Raises the record for each (`signer`, key) to its version unless it is already
    /// higher, folding in (and dropping) its imported old-layout record; one transaction.
    pub(super) fn record_versions(
        &self,
        signer: &PublicKey,
        versions: &[(&str, u64)],
    ) -> Result<(), StateError> {
        let signer_bytes = signer.serialize();
        self.write(|c| {
            for &(key, version) in versions {
                let entry = legacy_entry(signer, key);
                c.prepare_cached(
                    "INSERT INTO versions_seen (signer, key, version)
                     VALUES (?1, ?2, max(?3, coalesce(
                         (SELECT version FROM legacy_versions_seen WHERE entry = ?4), ?3)))
                     ON CONFLICT (signer, key) DO UPDATE SET version = max(version, excluded.version)",
                )?
                .execute(params![
                    &signer_bytes[..],
                    key,
                    &version.to_be_bytes()[..],
                    &entry[..]
                ])?;
                c.prepare_cached("DELETE FROM legacy_versions_seen WHERE entry = ?1")?
                    .execute([&entry[..]])?;
            }
            Ok(())
        })
    }

    /// Adds the entries whose provider missed the write and removes the others, in one
    /// transaction.
    pub(super) fn journal_update(&self, entries: &[JournalEntry<'_>]) -> Result<(), StateError> {
        self.write(|c| {
            for entry in entries {
                let sql = if entry.missed {
                    "INSERT INTO repair_journal (provider, key) VALUES (?1, ?2) ON CONFLICT DO NOTHING"
                } else {
                    "DELETE FROM repair_journal WHERE provider = ?1 AND key = ?2"
                };
                c.prepare_cached(sql)?.execute([entry.provider, entry.key])?;
            }
            Ok(())
        })
    }

    pub(super) fn journal_contains(&self, provider: &str, key: &str) -> Result<bool, StateError> {
        let found = self.read(|c| {
            c.prepare_cached("SELECT 1 FROM repair_journal WHERE provider = ?1 AND key = ?2")?
                .query_row([provider, key], |_| Ok(()))
                .optional()
        })?;
        Ok(found.flatten().is_some())
    }

    pub(super) fn journal_list(&self) -> Result<Vec<(String, String)>, StateError> {
        let entries = self.read(|c| {
            c.prepare_cached("SELECT provider, key FROM repair_journal ORDER BY provider, key")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(entries.unwrap_or_default())
    }

    /// Runs `query` on the connection; `None` when there is none.
    fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, StateError> {
        let Some(connection) = self.lock() else {
            return Ok(None);
        };
        query(&connection)
            .map(Some)
            .map_err(|e| database_error(&self.shared.path, e))
    }

    /// Runs `change` in an immediate transaction (so a read inside it and the write that
    /// follows are atomic across processes) and commits it.
    fn write(
        &self,
        change: impl FnOnce(&Connection) -> rusqlite::Result<()>,
    ) -> Result<(), StateError> {
        if let Some(error) = self.unwritable() {
            return Err(error);
        }
        let mut connection = self.lock().expect("a writable database has a connection");
        let result = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .and_then(|tx| {
                change(&tx)?;
                tx.commit()
            });
        result.map_err(|e| database_error(&self.shared.path, e))
    }

    fn lock(&self) -> Option<MutexGuard<'_, Connection>> {
        // A panic while holding the lock left no transaction open (dropping one rolls it
        // back), so the connection is fine to use.
        let connection = self.shared.connection.as_ref()?;
        Some(connection.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn decode_version(&self, bytes: &[u8]) -> Result<u64, StateError> {
        let bytes = <[u8; 8]>::try_from(bytes).map_err(|_| StateError::Corrupt {
            path: self.shared.path.clone(),
            reason: format!("a version is {} bytes long, not 8", bytes.len()),
        })?;
        Ok(u64::from_be_bytes(bytes))
    }
}

/// The name the old layout gave a (signer, key): `versions/<hex of this>/`.
fn legacy_entry(signer: &PublicKey, key: &str) -> [u8; 32] {
    let mut id = signer.serialize().to_vec();
    id.extend_from_slice(key.as_bytes());
    crate::manifest::sha256(&id)
}

/// [`open_writable`], tried again while another connection holds a lock that SQLite
/// reports at once instead of waiting for (switching a new database to WAL does).
fn open_writable_patiently(state_dir: &Path, path: &Path) -> Result<Connection, StateError> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match open_writable(state_dir, path) {
            Err(StateError::Database { source, .. })
                if source.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// Opens the database for reading and writing, creating it (and the state dir) if
/// missing, brings its schema up to date and imports the old layout.
fn open_writable(state_dir: &Path, path: &Path) -> Result<Connection, StateError> {
    fs::create_dir_all(state_dir).map_err(|e| io_error(state_dir, e))?;
    // Created here rather than by SQLite, so that its mode is 0600 from the start (SQLite
    // gives the -wal and -shm files the same mode); an empty file is an empty database.
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_error(path, e)),
    }
    let error = |e| database_error(path, e);
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut connection = Connection::open_with_flags(path, flags).map_err(error)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(error)?;
    // SQLite falls back to reading a file it may not write.
    if connection.is_readonly(rusqlite::MAIN_DB).map_err(error)? {
        return Err(StateError::Unwritable {
            path: path.to_path_buf(),
            reason: "the file is read-only".into(),
        });
    }
    connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
        .map_err(error)?;
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(error)?;

    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(error)?;
    let version = schema_version(&tx, path)?;
    if version < SCHEMA_VERSION {
        tx.execute_batch(SCHEMA).map_err(error)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(error)?;
    }
    let imported = legacy::import(&tx, state_dir).map_err(error)?;
    tx.commit().map_err(error)?;
    // Only once the import is committed; another process importing the same files
    // meanwhile is harmless (importing is idempotent), and it tolerates files gone.
    imported.remove();
    Ok(connection)
}

/// A read-only connection to an existing database in a state dir that cannot be
/// written, or `None` when none can be made (or there is no database).
fn open_read_only(path: &Path) -> Result<Option<Connection>, StateError> {
    if !path.exists() {
        return Ok(None);
    }
    // Reading a WAL database needs its -shm file, which a read-only directory may not
    // let SQLite create; then the file is read as it stands (`immutable`), which may
    // miss the latest records if a writer crashed before copying them into it.
    let as_it_stands = format!(
        "file:{}?immutable=1",
        percent_encoding::utf8_percent_encode(&path.to_string_lossy(), URI_PATH)
    );
    let attempts = [
        (path.to_string_lossy().into_owned(), OpenFlags::empty()),
        (as_it_stands, OpenFlags::SQLITE_OPEN_URI),
    ];
    for (name, flag) in attempts {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | flag;
        let opened = Connection::open_with_flags(&name, flags)
            .and_then(|c| c.busy_timeout(BUSY_TIMEOUT).map(|()| c))
            .map_err(|e| database_error(path, e))
            .and_then(|c| schema_version(&c, path).map(|version| (c, version)));
        match opened {
            // Nothing to read in a database that never got its tables.
            Ok((_, version)) if version < SCHEMA_VERSION => return Ok(None),
            Ok((connection, _)) => return Ok(Some(connection)),
            Err(e @ (StateError::Corrupt { .. } | StateError::NewerSchema { .. })) => {
                return Err(e)
            }
            Err(e) => tracing::debug!("reading {name}: {e}"),
        }
    }
    Ok(None)
}

/// What must be escaped in the path of an SQLite URI filename.
const URI_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The database's schema version, refusing one newer than this mirra knows.
fn schema_version(connection: &Connection, path: &Path) -> Result<i64, StateError> {
    let found: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| database_error(path, e))?;
    if found > SCHEMA_VERSION {
        return Err(StateError::NewerSchema {
            path: path.to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

/// Sorts an SQLite failure into what the state types act on.
fn database_error(path: &Path, source: rusqlite::Error) -> StateError {
    let path = path.to_path_buf();
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StateError::Corrupt {
            path: path.clone(),
            reason: format!(
                "{source}. It only holds rollback marks and repair hints, so it is safe to \
                 move it aside (`mv {0} {0}.bad`): mirra then starts a new one, learns the \
                 newest versions again as it reads, and a full `mirra repair` finds what \
                 needs repair",
                path.display()
            ),
        },
        Some(
            ErrorCode::ReadOnly
            | ErrorCode::CannotOpen
            | ErrorCode::DiskFull
            | ErrorCode::PermissionDenied,
        ) => StateError::Unwritable {
            path,
            reason: source.to_string(),
        },
        _ => StateError::Database { path, source },
    }
}

/// A file system failure, sorted like [`database_error`]: a state dir that cannot take
/// writes (as opposed to one holding something wrong) is `Unwritable`.
fn io_error(path: &Path, source: io::Error) -> StateError {
    let unwritable = matches!(
        source.kind(),
        io::ErrorKind::PermissionDenied
            | io::ErrorKind::ReadOnlyFilesystem
            | io::ErrorKind::StorageFull
            | io::ErrorKind::QuotaExceeded
            | io::ErrorKind::NotFound
            | io::ErrorKind::NotADirectory
            // create_dir_all finding a file where the state dir should be
            | io::ErrorKind::AlreadyExists
    );
    if unwritable {
        StateError::Unwritable {
            path: path.to_path_buf(),
            reason: source.to_string(),
        }
    } else {
        StateError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
