//! The host side of the ABI: load a driver library and call it through the plain traits.

use std::path::{Path, PathBuf};

use abi_stable::{
    library::{lib_header_from_path, LibraryError},
    std_types::{RResult, RSlice, RSliceMut, RStr},
};

use crate::ffi::{
    DriverModuleRef, FfiAddressPolicy, FfiDriverBox, FfiError, FfiFlushBox, FfiHostContext,
    FfiOpened, FfiWriterBox,
};
use crate::{
    AddressPolicy, DriverError, DriverInfo, DriverResult, HostContext, Key, ListPage, ObjectMeta,
    ObjectWriter, StorageDriver,
};

/// Why a file could not be loaded as a mirra driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The dynamic loader refused the file: missing, unreadable, or not a shared library.
    #[error("{path}: cannot be loaded as a shared library: {reason}")]
    NotALibrary {
        /// The file.
        path: PathBuf,
        /// What the dynamic loader said.
        reason: String,
    },
    /// A shared library without the mirra driver root module.
    #[error(
        "{path}: is a shared library but not a mirra driver (it exports no abi_stable root module)"
    )]
    NotADriver {
        /// The file.
        path: PathBuf,
    },
    /// Built against an incompatible `abi_stable` or `mirra-driver-api` version.
    #[error("{path}: incompatible driver interface: {reason}")]
    IncompatibleVersion {
        /// The file.
        path: PathBuf,
        /// Which versions differ.
        reason: String,
    },
    /// Same versions, but the types do not have the layout this host expects.
    #[error("{path}: driver interface layout mismatch: {differences}")]
    LayoutMismatch {
        /// The file.
        path: PathBuf,
        /// The `Error:` lines of abi_stable's report: which types and fields differ.
        differences: String,
    },
    /// Anything else the loader reported.
    #[error("{path}: cannot load driver: {reason}")]
    Other {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl LoadError {
    fn from_library_error(path: &Path, err: LibraryError) -> Self {
        let path = path.to_path_buf();
        match err {
            LibraryError::OpenError { err, .. } => Self::NotALibrary {
                path,
                reason: err.to_string(),
            },
            LibraryError::GetSymbolError { .. } => Self::NotADriver { path },
            LibraryError::InvalidAbiHeader(header) => Self::IncompatibleVersion {
                path,
                reason: format!(
                    "it was built with abi_stable ABI {}.{}, this host uses {}",
                    header.abi_major,
                    header.abi_minor,
                    abi_stable_version()
                ),
            },
            LibraryError::IncompatibleVersionNumber {
                expected_version,
                actual_version,
                ..
            } => Self::IncompatibleVersion {
                path,
                reason: format!(
                    "it implements mirra-driver-api {actual_version}, this host speaks {expected_version}"
                ),
            },
            LibraryError::AbiInstability(report) => Self::LayoutMismatch {
                path,
                differences: summarize_layout_report(&report.to_string()),
            },
            other => Self::Other {
                path,
                reason: other.to_string(),
            },
        }
    }
}

fn abi_stable_version() -> String {
    let header = abi_stable::library::AbiHeader::VALUE;
    format!("{}.{}", header.abi_major, header.abi_minor)
}

/// abi_stable's layout report runs to tens of kilobytes and opens with a misleading
/// "0 error(s)"; keep only the lines that say what differs.
fn summarize_layout_report(report: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    let mut rest = report.lines().map(str::trim);
    while let Some(line) = rest.next() {
        if line.starts_with("Error:") {
            lines.push(line);
            // The line after an `Error:` names the expected and found values.
            for detail in rest.by_ref().take(4) {
                if detail.starts_with("Expected:") || detail.starts_with("Found:") {
                    lines.push(detail);
                }
            }
        }
        if lines.len() >= 12 {
            break;
        }
    }
    if lines.is_empty() {
        report.lines().take(6).collect::<Vec<_>>().join(" | ")
    } else {
        lines.join(" | ")
    }
}

/// The root module as the library exports it: this version's, 1.1's or 1.0's.
#[derive(Clone, Copy)]
enum Module {
    Current(DriverModuleRef),
    V1_1(crate::ffi::v1_1::DriverModuleRef),
    V1_0(crate::ffi::v1_0::DriverModuleRef),
}

type OpenFn = extern "C" fn(FfiHostContext, RStr<'_>) -> RResult<FfiDriverBox, FfiError>;
type OpenWithinFn =
    extern "C" fn(FfiHostContext, RStr<'_>, &FfiAddressPolicy) -> RResult<FfiDriverBox, FfiError>;
type OpenFlushingFn = extern "C" fn(FfiHostContext, RStr<'_>) -> RResult<FfiOpened, FfiError>;

impl Module {
    fn info(self) -> extern "C" fn() -> crate::ffi::FfiDriverInfo {
        match self {
            Self::Current(m) => m.info(),
            Self::V1_1(m) => m.info(),
            Self::V1_0(m) => m.info(),
        }
    }

    fn open(self) -> OpenFn {
        match self {
            Self::Current(m) => m.open(),
            Self::V1_1(m) => m.open(),
            Self::V1_0(m) => m.open(),
        }
    }

    fn open_url(self) -> OpenFn {
        match self {
            Self::Current(m) => m.open_url(),
            Self::V1_1(m) => m.open_url(),
            Self::V1_0(m) => m.open_url(),
        }
    }

    fn open_url_within(self) -> Option<OpenWithinFn> {
        match self {
            Self::Current(m) => m.open_url_within(),
            Self::V1_1(m) => m.open_url_within(),
            Self::V1_0(_) => None,
        }
    }

    fn open_flushing(self) -> Option<OpenFlushingFn> {
        match self {
            Self::Current(m) => m.open_flushing(),
            Self::V1_1(_) | Self::V1_0(_) => None,
        }
    }
}

/// A driver library loaded into this process. Libraries are never unloaded: a driver may
/// have started threads or registered callbacks that outlive any one provider.
#[derive(Clone)]
pub struct DriverLibrary {
    module: Module,
    path: PathBuf,
    info: DriverInfo,
}

impl std::fmt::Debug for DriverLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverLibrary")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish()
    }
}

impl DriverLibrary {
    /// Loads the driver library at `path`, checking the abi_stable version, the
    /// mirra-driver-api version and the layout of every type in the interface.
    ///
    /// # Errors
    /// A [`LoadError`] naming the file and what is wrong with it.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        Self::load_as(path, path)
    }

    /// Loads the library at `path` (e.g. `/proc/self/fd/N` for a file the host opened
    /// and checked), naming it `shown_as` in errors and in [`path`](Self::path).
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_as(path: &Path, shown_as: &Path) -> Result<Self, LoadError> {
        let header =
            lib_header_from_path(path).map_err(|e| LoadError::from_library_error(shown_as, e))?;
        let path = shown_as;
        let module = match header.init_root_module::<DriverModuleRef>() {
            Ok(module) => Module::Current(module),
            // A driver built against an older 1.x has fewer root-module fields than this
            // host; abi_stable accepts it against the layout of its own minor version.
            Err(first @ LibraryError::AbiInstability(_)) => {
                if let Ok(module) = header.init_root_module::<crate::ffi::v1_1::DriverModuleRef>() {
                    Module::V1_1(module)
                } else if let Ok(module) =
                    header.init_root_module::<crate::ffi::v1_0::DriverModuleRef>()
                {
                    Module::V1_0(module)
                } else {
                    return Err(LoadError::from_library_error(path, first));
                }
            }
            Err(e) => return Err(LoadError::from_library_error(path, e)),
        };
        let info = DriverInfo::from((module.info())());
        Ok(Self {
            module,
            path: path.to_path_buf(),
            info,
        })
    }

    /// The file this library was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the driver said about itself.
    pub fn info(&self) -> &DriverInfo {
        &self.info
    }

    /// Opens a provider with its `[provider.config]` table as TOML text.
    ///
    /// # Errors
    /// The driver's own error, e.g. `InvalidInput` for a bad config.
    pub fn open(&self, ctx: HostContext, config_toml: &str) -> DriverResult<LoadedDriver> {
        let config = RStr::from_str(config_toml);
        match self.module.open_flushing() {
            Some(open) => into_result(open(ctx.ffi, config)).map(|opened| LoadedDriver {
                inner: opened.driver,
                flush: Some(opened.flush),
            }),
            None => into_result((self.module.open())(ctx.ffi, config)).map(LoadedDriver::new),
        }
    }

    /// Opens read-only access rooted at `url`.
    ///
    /// # Errors
    /// `Unsupported` if the driver cannot open URLs, or the driver's own error.
    pub fn open_url(&self, ctx: HostContext, url: &str) -> DriverResult<LoadedDriver> {
        let result = (self.module.open_url())(ctx.ffi, RStr::from_str(url));
        into_result(result).map(LoadedDriver::new)
    }
}

impl DriverLibrary {
    /// Whether the library has [`open_url_within`](Self::open_url_within) (drivers
    /// built against mirra-driver-api 1.1 or later).
    pub fn has_open_url_within(&self) -> bool {
        self.module.open_url_within().is_some()
    }

    /// Opens read-only access rooted at `url`, with every connection held to `policy`
    /// (see [`DriverFactory::open_url_within`](crate::DriverFactory::open_url_within)).
    ///
    /// # Errors
    /// `Unsupported` if the driver predates the entry point or cannot enforce a policy;
    /// `PermissionDenied` if the URL itself is refused; else the driver's own error.
    pub fn open_url_within(
        &self,
        ctx: HostContext,
        url: &str,
        policy: &AddressPolicy,
    ) -> DriverResult<LoadedDriver> {
        let Some(open) = self.module.open_url_within() else {
            return Err(DriverError::unsupported(
                "open_url_within (the driver was built before mirra-driver-api 1.1)",
            ));
        };
        let result = open(
            ctx.ffi,
            RStr::from_str(url),
            &FfiAddressPolicy::from(policy),
        );
        into_result(result).map(LoadedDriver::new)
    }
}

fn into_result<T>(result: RResult<T, FfiError>) -> DriverResult<T> {
    result.into_result().map_err(DriverError::from)
}

/// A provider opened through a loaded library, seen as a plain [`StorageDriver`].
pub struct LoadedDriver {
    inner: FfiDriverBox,
    /// The 1.2 entry points; `None` for drivers built earlier and for providers opened
    /// from URLs (read-only), which then answer with the trait's defaults.
    flush: Option<FfiFlushBox>,
}

impl LoadedDriver {
    fn new(inner: FfiDriverBox) -> Self {
        Self { inner, flush: None }
    }
}

impl std::fmt::Debug for LoadedDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedDriver").finish_non_exhaustive()
    }
}

impl StorageDriver for LoadedDriver {
    fn stat(&self, key: &Key) -> DriverResult<ObjectMeta> {
        into_result(self.inner.stat(key.as_str().into())).map(|size| ObjectMeta { size })
    }

    fn read(&self, key: &Key, offset: u64, buf: &mut [u8]) -> DriverResult<usize> {
        let len = buf.len();
        let n = into_result(self.inner.read(
            key.as_str().into(),
            offset,
            RSliceMut::from_mut_slice(buf),
        ))?;
        if n > len {
            return Err(DriverError::other(format!(
                "driver claimed {n} bytes read into a {len}-byte buffer"
            )));
        }
        Ok(n)
    }

    fn put(&self, key: &Key, data: &[u8]) -> DriverResult<()> {
        into_result(
            self.inner
                .put(key.as_str().into(), RSlice::from_slice(data)),
        )
    }

    fn begin_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        let writer = into_result(self.inner.begin_write(key.as_str().into()))?;
        Ok(Box::new(LoadedWriter(Some(writer))))
    }

    fn delete(&self, key: &Key) -> DriverResult<()> {
        into_result(self.inner.delete(key.as_str().into()))
    }

    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> DriverResult<ListPage> {
        let cursor = cursor.map(RStr::from_str).into();
        into_result(self.inner.list(prefix.into(), cursor, limit)).map(ListPage::from)
    }

    fn public_url(&self, key: &Key) -> DriverResult<String> {
        into_result(self.inner.public_url(key.as_str().into())).map(String::from)
    }

    fn health(&self) -> DriverResult<()> {
        into_result(self.inner.health())
    }

    fn begin_unsynced_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        let Some(flush) = &self.flush else {
            return self.begin_write(key);
        };
        let writer = into_result(flush.begin_unsynced_write(key.as_str().into()))?;
        Ok(Box::new(LoadedWriter(Some(writer))))
    }

    fn flush(&self) -> DriverResult<()> {
        match &self.flush {
            Some(flush) => into_result(flush.flush()),
            None => Ok(()),
        }
    }
}

/// `None` once committed or aborted; dropping it earlier aborts.
struct LoadedWriter(Option<FfiWriterBox>);

impl LoadedWriter {
    fn take(&mut self) -> DriverResult<FfiWriterBox> {
        self.0
            .take()
            .ok_or_else(|| DriverError::other("writer already finished"))
    }
}

impl ObjectWriter for LoadedWriter {
    fn write(&mut self, data: &[u8]) -> DriverResult<()> {
        match self.0.as_mut() {
            Some(writer) => into_result(writer.write(RSlice::from_slice(data))),
            None => Err(DriverError::other("writer already finished")),
        }
    }

    fn commit(mut self: Box<Self>) -> DriverResult<()> {
        into_result(self.take()?.commit())
    }

    fn abort(mut self: Box<Self>) -> DriverResult<()> {
        into_result(self.take()?.abort())
    }
}

impl Drop for LoadedWriter {
    fn drop(&mut self) {
        if let Some(writer) = self.0.take() {
            let _ = writer.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_report_keeps_only_what_differs() {
        let report = "0 error(s)\nsome preamble\n  Error: mismatched field name\n  Expected:\"open\"\n  Found:\"open_v2\"\nlots of noise\n";
        let summary = summarize_layout_report(report);
        assert!(
            summary.contains("Error: mismatched field name"),
            "{summary}"
        );
        assert!(summary.contains("Found:\"open_v2\""), "{summary}");
        assert!(!summary.contains("0 error(s)"), "{summary}");
    }
}
