//! Finding and loading driver libraries.
//!
//! A bare driver name such as `disk` becomes `libmirra_driver_disk.so`, searched for in
//! the config's `driver_dirs`, then `$MIRRA_DRIVER_PATH`, then the directory of the
//! running executable, then `mirra/drivers` under the XDG data directory. A name with a
//! `/` is a path. Each library is loaded once per process and never unloaded.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mirra_driver_api::{DriverError, DriverLibrary, HostContext, LoadError, LoadedDriver};

/// Why a driver could not be loaded or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoaderError {
    /// No file for a bare driver name in any search directory.
    #[error("driver {name:?}: no {file} in {}", display_dirs(.searched))]
    NotFound {
        /// The name from the config.
        name: String,
        /// The file name looked for.
        file: String,
        /// Every directory searched, in order.
        searched: Vec<PathBuf>,
    },
    /// A driver path that does not exist.
    #[error("driver {path}: no such file")]
    MissingFile {
        /// The path from the config.
        path: PathBuf,
    },
    /// Anyone but the owner could replace the code this process would run.
    #[error("driver {path}: refusing to load a file that is group- or world-writable (mode {mode:o}); run chmod go-w on it")]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The directory holding the driver lets others swap the file.
    #[error("driver {path}: refusing to load from {dir}, a directory that is group- or world-writable (mode {mode:o}); run chmod go-w on it")]
    InsecureDirectory {
        /// The file.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
        /// The directory's permission bits.
        mode: u32,
    },
    /// The file or its directory belongs to another user, who could replace it.
    #[error("driver {path}: refusing to load: {what} is owned by uid {owner}, neither this user ({me}) nor root")]
    ForeignOwner {
        /// The file.
        path: PathBuf,
        /// `the file` or `its directory DIR`.
        what: String,
        /// The owner's uid.
        owner: u32,
        /// This process's effective uid.
        me: u32,
    },
    /// The file is not a loadable, compatible mirra driver.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The driver loaded but refused to open the provider.
    #[error("driver {driver} ({path}): open failed: {source}")]
    Open {
        /// The library.
        path: PathBuf,
        /// The driver's name.
        driver: String,
        /// What the driver said.
        source: DriverError,
    },
}

fn display_dirs(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "any directory (none to search)".into();
    }
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where bare driver names are looked up, in order.
#[derive(Debug, Clone, Default)]
pub struct SearchPath {
    dirs: Vec<PathBuf>,
}

impl SearchPath {
    /// The standard order, with `config_dirs` first (absolute, as [`Config::load`]
    /// resolves them); relative `MIRRA_DRIVER_PATH` entries are ignored, so the
    /// working directory is never searched.
    ///
    /// [`Config::load`]: crate::config::Config::load
    pub fn standard(config_dirs: &[PathBuf]) -> Self {
        let mut dirs: Vec<PathBuf> = config_dirs.to_vec();
        if let Some(env) = std::env::var_os("MIRRA_DRIVER_PATH") {
            // A relative entry would search the working directory, which a zone file
            // reader (or anyone who can leave a file there) does not control.
            for dir in std::env::split_paths(&env).filter(|p| !p.as_os_str().is_empty()) {
                if dir.is_absolute() {
                    dirs.push(dir);
                } else {
                    tracing::warn!(
                        "ignoring relative MIRRA_DRIVER_PATH entry {}: driver directories must be absolute",
                        dir.display()
                    );
                }
            }
        }
        if let Some(exe_dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        {
            dirs.push(exe_dir);
        }
        dirs.push(crate::config::default_data_dir().join("drivers"));
        Self { dirs }
    }

    /// Exactly these directories.
    pub fn from_dirs(dirs: Vec<PathBuf>) -> Self {
        Self { dirs }
    }

    /// The directories, in search order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The library file for `driver`: a path as given, or a bare name searched for.
    ///
    /// # Errors
    /// `NotFound` listing every directory searched, or `MissingFile` for a path.
    pub fn resolve(&self, driver: &str) -> Result<PathBuf, LoaderError> {
        if driver.contains('/') {
            let path = PathBuf::from(driver);
            return if path.exists() {
                Ok(path)
            } else {
                Err(LoaderError::MissingFile { path })
            };
        }
        let file = library_file_name(driver);
        self.dirs
            .iter()
            .map(|d| d.join(&file))
            .find(|p| p.is_file())
            .ok_or_else(|| LoaderError::NotFound {
                name: driver.to_owned(),
                file,
                searched: self.dirs.clone(),
            })
    }
}

/// `disk` → `libmirra_driver_disk.so`.
pub fn library_file_name(driver: &str) -> String {
    format!("{LIBRARY_PREFIX}{driver}{LIBRARY_SUFFIX}")
}

/// How every driver library's file name starts, and ends.
const LIBRARY_PREFIX: &str = "libmirra_driver_";
const LIBRARY_SUFFIX: &str = ".so";

/// Loads each library once and hands out the same [`DriverLibrary`] afterwards.
#[derive(Default, Clone)]
pub struct Loader {
    loaded: Arc<Mutex<HashMap<PathBuf, DriverLibrary>>>,
}

impl Loader {
    /// Loads the library at `path` (or returns the one already loaded from it).
    ///
    /// # Errors
    /// `InsecurePermissions`, `InsecureDirectory` or `ForeignOwner` for a file others
    /// could replace, else the [`LoadError`] that names what is wrong with the file.
    pub fn load(&self, path: &Path) -> Result<DriverLibrary, LoaderError> {
        let canonical = path.canonicalize().map_err(|_| LoaderError::MissingFile {
            path: path.to_path_buf(),
        })?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(library) = loaded.get(&canonical) {
            return Ok(library.clone());
        }
        // Open once, check what was opened, and load that very file through its
        // descriptor: a file swapped in after the check is never the one loaded.
        let file = std::fs::File::open(&canonical).map_err(|_| LoaderError::MissingFile {
            path: canonical.clone(),
        })?;
        check_ownership(&canonical, &file)?;
        let by_descriptor = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        let loaded_as = DriverLibrary::load_as(&by_descriptor, &canonical);
        // The dynamic linker knows this object by the name `/proc/self/fd/N`, and a later
        // dlopen of the same name returns it without reading the file. Closing the
        // descriptor would free N for the next driver, which would then silently get this
        // one, so the descriptor lives as long as the library: for the whole process.
        std::mem::forget(file);
        let library = loaded_as?;
        tracing::debug!(path = %canonical.display(), driver = %library.info().name, "loaded driver");
        loaded.insert(canonical, library.clone());
        Ok(library)
    }

    /// Resolves `driver` on `search`, loads it and opens a provider with `config_toml`.
    ///
    /// # Errors
    /// Any [`LoaderError`]; a failing `open` names the file and the driver.
    pub fn open(
        &self,
        search: &SearchPath,
        driver: &str,
        config_toml: &str,
    ) -> Result<(DriverLibrary, LoadedDriver), LoaderError> {
        let library = self.load(&search.resolve(driver)?)?;
        let opened = library
            .open(HostContext::default(), config_toml)
            .map_err(|source| LoaderError::Open {
                path: library.path().to_path_buf(),
                driver: library.info().name.clone(),
                source,
            })?;
        Ok((library, opened))
    }
}

impl Loader {
    /// Every driver library in `search`'s directories, by the URL schemes it claims: the
    /// first directory with a driver for a scheme wins, as for bare driver names. Files
    /// named like drivers that do not load (an old build, another ABI) are passed over.
    pub fn drivers_by_scheme(&self, search: &SearchPath) -> SchemeDrivers {
        let mut by_scheme = HashMap::new();
        for dir in search.dirs() {
            let Ok(listing) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = listing
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| is_driver_file(path))
                .collect();
            files.sort();
            for path in files {
                match self.load(&path) {
                    Ok(library) => {
                        for scheme in &library.info().url_schemes {
                            by_scheme
                                .entry(scheme.to_ascii_lowercase())
                                .or_insert_with(|| library.clone());
                        }
                    }
                    Err(e) => tracing::debug!("not using {}: {e}", path.display()),
                }
            }
        }
        SchemeDrivers { by_scheme }
    }
}

fn is_driver_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(LIBRARY_PREFIX) && n.ends_with(LIBRARY_SUFFIX))
}

/// Driver libraries by the URL schemes they claim, for targets from zone files.
#[derive(Clone, Default)]
pub struct SchemeDrivers {
    by_scheme: HashMap<String, DriverLibrary>,
}

/// Why no driver serves a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoDriver {
    /// The target has no `scheme:` prefix.
    #[error("the target is not a URL")]
    NotAUrl,
    /// No library on the search path claims the scheme.
    #[error("no driver claims the scheme {0:?}")]
    Unclaimed(String),
}

impl SchemeDrivers {
    /// The library that claims `target`'s scheme.
    ///
    /// # Errors
    /// [`NoDriver`] saying whether the target has no scheme or no driver claims it.
    pub fn for_target(&self, target: &str) -> Result<&DriverLibrary, NoDriver> {
        let scheme = scheme_of(target).ok_or(NoDriver::NotAUrl)?;
        self.by_scheme
            .get(&scheme)
            .ok_or(NoDriver::Unclaimed(scheme))
    }

    /// The name of the driver that claims `target`'s scheme, for reports that load
    /// nothing further.
    ///
    /// # Errors
    /// As for [`SchemeDrivers::for_target`].
    pub fn driver_name_for(&self, target: &str) -> Result<&str, NoDriver> {
        self.for_target(target)
            .map(|library| library.info().name.as_str())
    }

    /// Every scheme claimed, with its driver's name, sorted by scheme.
    pub fn schemes(&self) -> Vec<(String, String)> {
        let mut schemes: Vec<(String, String)> = self
            .by_scheme
            .iter()
            .map(|(scheme, library)| (scheme.clone(), library.info().name.clone()))
            .collect();
        schemes.sort();
        schemes
    }
}

/// The lower-cased scheme of a URL (`https` of `https://...`), if it has one.
pub fn scheme_of(target: &str) -> Option<String> {
    let (scheme, _) = target.split_once(':')?;
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then(|| scheme.to_ascii_lowercase())
}

/// Refuses a driver that someone other than this user (or root) could have replaced:
/// the opened file or its directory writable by group or others, or owned by another
/// non-root user.
fn check_ownership(path: &Path, file: &std::fs::File) -> Result<(), LoaderError> {
    let me = rustix::process::geteuid().as_raw();
    let foreign = |what: String, owner: u32| LoaderError::ForeignOwner {
        path: path.to_path_buf(),
        what,
        owner,
        me,
    };
    let meta = file.metadata().map_err(|_| LoaderError::MissingFile {
        path: path.to_path_buf(),
    })?;
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(LoaderError::InsecurePermissions {
            path: path.to_path_buf(),
            mode: meta.permissions().mode() & 0o7777,
        });
    }
    if meta.uid() != me && meta.uid() != 0 {
        return Err(foreign("the file".into(), meta.uid()));
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let dir_meta = std::fs::metadata(dir).map_err(|_| LoaderError::MissingFile {
        path: path.to_path_buf(),
    })?;
    let mode = dir_meta.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(LoaderError::InsecureDirectory {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            mode: mode & 0o7777,
        });
    }
    if dir_meta.uid() != me && dir_meta.uid() != 0 {
        return Err(foreign(
            format!("its directory {}", dir.display()),
            dir_meta.uid(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_read_from_targets() {
        assert_eq!(scheme_of("https://example.com/a"), Some("https".into()));
        assert_eq!(scheme_of("DHT+UDP://abc"), Some("dht+udp".into()));
        assert_eq!(scheme_of("file:///x"), Some("file".into()));
        assert_eq!(scheme_of("no scheme here"), None);
        assert_eq!(scheme_of("1x://y"), None);
    }

    #[test]
    fn targets_without_a_driver_say_why() {
        let dir = tempfile::tempdir().unwrap();
        // Named like a driver but not one: passed over, not an error.
        std::fs::write(dir.path().join("libmirra_driver_junk.so"), b"junk").unwrap();
        let search = SearchPath::from_dirs(vec![dir.path().into()]);
        let drivers = Loader::default().drivers_by_scheme(&search);
        assert!(drivers.schemes().is_empty());
        assert_eq!(
            drivers.for_target("gopher://x/").unwrap_err(),
            NoDriver::Unclaimed("gopher".into())
        );
        assert_eq!(
            drivers.for_target("not a url").unwrap_err(),
            NoDriver::NotAUrl
        );
    }

    #[test]
    fn bare_names_are_searched_in_order_and_misses_list_every_dir() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(b.path().join("libmirra_driver_x.so"), b"").unwrap();
        std::fs::write(a.path().join("libmirra_driver_y.so"), b"").unwrap();
        std::fs::write(b.path().join("libmirra_driver_y.so"), b"").unwrap();
        let search = SearchPath::from_dirs(vec![a.path().into(), b.path().into()]);
        assert_eq!(
            search.resolve("x").unwrap(),
            b.path().join("libmirra_driver_x.so")
        );
        assert_eq!(
            search.resolve("y").unwrap(),
            a.path().join("libmirra_driver_y.so")
        );
        let err = search.resolve("nope").unwrap_err().to_string();
        assert!(err.contains("libmirra_driver_nope.so"), "{err}");
        assert!(err.contains(&a.path().display().to_string()), "{err}");
        assert!(err.contains(&b.path().display().to_string()), "{err}");
    }

    #[test]
    fn writable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("libmirra_driver_w.so");
        std::fs::write(&path, b"not even a library").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = Loader::default().load(&path).unwrap_err();
        assert!(
            matches!(err, LoaderError::InsecurePermissions { mode: 0o666, .. }),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o775)).unwrap();
        let err = Loader::default().load(&path).unwrap_err();
        assert!(
            matches!(err, LoaderError::InsecureDirectory { mode: 0o775, .. }),
            "{err}"
        );
    }
}
