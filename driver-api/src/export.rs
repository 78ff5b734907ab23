//! The driver side of the ABI: adapters from the plain traits to the FFI types, with
//! every call wrapped in `catch_unwind`, and the [`export_driver!`] macro.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use abi_stable::{
    library::{CheckTypeLayout, LibHeader, RootModuleResult},
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{RErr, ROption, RResult, RSlice, RSliceMut, RStr, RString},
};

use crate::ffi::{
    DriverModule, DriverModuleRef, FfiAddressPolicy, FfiDriver, FfiDriverBox, FfiDriverInfo,
    FfiDriver_TO, FfiError, FfiFlush, FfiFlush_TO, FfiHostContext, FfiListPage, FfiOpened,
    FfiWriter, FfiWriterBox, FfiWriter_TO,
};
use crate::{
    context, Capabilities, DriverError, DriverFactory, DriverInfo, ErrorKind, Key, ObjectWriter,
    StorageDriver,
};

/// Exports `$factory` (a type implementing [`DriverFactory`](crate::DriverFactory)) as
/// this library's mirra driver root module.
///
/// Use it once, at the root of a crate built with `crate-type = ["cdylib", "rlib"]`:
///
/// ```
/// use mirra_driver_api::{
///     Capabilities, DriverError, DriverFactory, DriverInfo, DriverResult, Key, ObjectMeta,
///     StorageDriver,
/// };
///
/// /// A store that holds nothing: every key is missing.
/// struct Empty;
///
/// impl StorageDriver for Empty {
///     fn stat(&self, key: &Key) -> DriverResult<ObjectMeta> {
///         Err(DriverError::not_found(key))
///     }
///     fn read(&self, key: &Key, _offset: u64, _buf: &mut [u8]) -> DriverResult<usize> {
///         Err(DriverError::not_found(key))
///     }
/// }
///
/// struct EmptyFactory;
///
/// impl DriverFactory for EmptyFactory {
///     fn info() -> DriverInfo {
///         DriverInfo {
///             name: "empty".into(),
///             version: "0.1.0".into(),
///             url_schemes: vec![],
///             capabilities: Capabilities::READ,
///         }
///     }
///     fn open(_config_toml: &str) -> DriverResult<Box<dyn StorageDriver>> {
///         Ok(Box::new(Empty))
///     }
/// }
///
/// mirra_driver_api::export_driver!(EmptyFactory);
/// ```
///
/// Every entry point the macro generates catches panics, which reach the host as
/// [`ErrorKind::Panicked`](crate::ErrorKind::Panicked) errors, so build drivers with
/// `panic = "unwind"` (the default). The crate need not depend on `abi_stable`.
#[macro_export]
macro_rules! export_driver {
    ($factory:ty) => {
        /// The mirra driver root module (see `mirra_driver_api::export_driver!`).
        #[doc(hidden)]
        #[no_mangle]
        #[allow(non_upper_case_globals)]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::__private::LibHeader =
            $crate::__private::lib_header::<$factory>();
    };
}

/// The symbol name `export_driver!` defines; abi_stable looks it up by this name.
#[cfg(test)]
const EXPORTED_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// The header `export_driver!` places in the library.
pub const fn lib_header<F: DriverFactory>() -> LibHeader {
    // SAFETY: `construct::<F>` returns a `DriverModuleRef` cast to the erased prefix,
    // which is what `from_constructor::<DriverModuleRef>` requires.
    unsafe { LibHeader::from_constructor::<DriverModuleRef>(construct::<F>, CheckTypeLayout::Yes) }
}

/// A header exporting the 1.0 root module (no `open_url_within`), for tests showing
/// that drivers built before 1.1 still load. Not part of the stable API.
pub const fn lib_header_v1_0<F: DriverFactory>() -> LibHeader {
    // SAFETY: as for `lib_header`, with the 1.0 module type.
    unsafe {
        LibHeader::from_constructor::<crate::ffi::v1_0::DriverModuleRef>(
            construct_v1_0::<F>,
            CheckTypeLayout::Yes,
        )
    }
}

extern "C" fn construct_v1_0<F: DriverFactory>() -> RootModuleResult {
    abi_stable::library::__call_root_module_loader(|| {
        crate::ffi::v1_0::DriverModule {
            info: info::<F>,
            open: open::<F>,
            open_url: open_url::<F>,
        }
        .leak_into_prefix()
    })
}

extern "C" fn construct<F: DriverFactory>() -> RootModuleResult {
    abi_stable::library::__call_root_module_loader(module::<F>)
}

fn module<F: DriverFactory>() -> DriverModuleRef {
    DriverModule {
        info: info::<F>,
        open: open::<F>,
        open_url: open_url::<F>,
        open_url_within: open_url_within::<F>,
        open_flushing: open_flushing::<F>,
    }
    .leak_into_prefix()
}

extern "C" fn info<F: DriverFactory>() -> FfiDriverInfo {
    catch_unwind(F::info)
        .unwrap_or_else(|_| DriverInfo {
            name: "unknown (info() panicked)".into(),
            version: String::new(),
            url_schemes: Vec::new(),
            capabilities: Capabilities::NONE,
        })
        .into()
}

extern "C" fn open<F: DriverFactory>(
    ctx: FfiHostContext,
    config: RStr<'_>,
) -> RResult<FfiDriverBox, FfiError> {
    open_with::<F>(ctx, || F::open(config.as_str()))
}

extern "C" fn open_url<F: DriverFactory>(
    ctx: FfiHostContext,
    url: RStr<'_>,
) -> RResult<FfiDriverBox, FfiError> {
    open_with::<F>(ctx, || F::open_url(url.as_str()))
}

extern "C" fn open_url_within<F: DriverFactory>(
    ctx: FfiHostContext,
    url: RStr<'_>,
    policy: &FfiAddressPolicy,
) -> RResult<FfiDriverBox, FfiError> {
    let policy = crate::AddressPolicy::from(policy);
    open_with::<F>(ctx, || F::open_url_within(url.as_str(), &policy))
}

extern "C" fn open_flushing<F: DriverFactory>(
    ctx: FfiHostContext,
    config: RStr<'_>,
) -> RResult<FfiOpened, FfiError> {
    opened::<F>(ctx, || F::open(config.as_str())).map(|driver| FfiOpened {
        flush: FfiFlush_TO::from_value(FlushAdapter(driver.clone()), TD_Opaque),
        driver: FfiDriver_TO::from_value(DriverAdapter(driver), TD_Opaque),
    })
}

fn open_with<F: DriverFactory>(
    ctx: FfiHostContext,
    open: impl FnOnce() -> Result<Box<dyn StorageDriver>, DriverError>,
) -> RResult<FfiDriverBox, FfiError> {
    opened::<F>(ctx, open).map(|driver| FfiDriver_TO::from_value(DriverAdapter(driver), TD_Opaque))
}

/// Opens a provider with the host's log sink installed, catching a panic.
fn opened<F: DriverFactory>(
    ctx: FfiHostContext,
    open: impl FnOnce() -> Result<Box<dyn StorageDriver>, DriverError>,
) -> RResult<Arc<dyn StorageDriver>, FfiError> {
    guard(|| {
        context::install_forwarder(ctx, F::info().name);
        open().map(Arc::from)
    })
}

/// Runs `f`, turning a panic into a `Panicked` error.
fn guard<T>(f: impl FnOnce() -> Result<T, DriverError>) -> RResult<T, FfiError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(FfiError::from).into(),
        Err(payload) => {
            RErr(DriverError::new(ErrorKind::Panicked, panic_message(&*payload)).into())
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload");
    format!("driver panicked: {text}")
}

fn parse_key(key: RStr<'_>) -> Result<Key, DriverError> {
    Ok(Key::parse(key.as_str())?)
}

struct DriverAdapter(Arc<dyn StorageDriver>);

/// The 1.2 calls of the same opened provider as a [`DriverAdapter`].
struct FlushAdapter(Arc<dyn StorageDriver>);

impl FfiFlush for FlushAdapter {
    fn begin_unsynced_write(&self, key: RStr<'_>) -> RResult<FfiWriterBox, FfiError> {
        guard(|| self.0.begin_unsynced_write(&parse_key(key)?))
            .map(|writer| FfiWriter_TO::from_value(WriterAdapter(writer), TD_Opaque))
    }

    fn flush(&self) -> RResult<(), FfiError> {
        guard(|| self.0.flush())
    }
}

impl FfiDriver for DriverAdapter {
    fn stat(&self, key: RStr<'_>) -> RResult<u64, FfiError> {
        guard(|| self.0.stat(&parse_key(key)?).map(|meta| meta.size))
    }

    fn read(
        &self,
        key: RStr<'_>,
        offset: u64,
        mut buf: RSliceMut<'_, u8>,
    ) -> RResult<usize, FfiError> {
        guard(|| {
            let len = buf.len();
            let n = self.0.read(&parse_key(key)?, offset, buf.as_mut_slice())?;
            if n > len {
                return Err(DriverError::other(format!(
                    "driver claimed {n} bytes read into a {len}-byte buffer"
                )));
            }
            Ok(n)
        })
    }

    fn put(&self, key: RStr<'_>, data: RSlice<'_, u8>) -> RResult<(), FfiError> {
        guard(|| self.0.put(&parse_key(key)?, data.as_slice()))
    }

    fn begin_write(&self, key: RStr<'_>) -> RResult<FfiWriterBox, FfiError> {
        guard(|| self.0.begin_write(&parse_key(key)?))
            .map(|writer| FfiWriter_TO::from_value(WriterAdapter(writer), TD_Opaque))
    }

    fn delete(&self, key: RStr<'_>) -> RResult<(), FfiError> {
        guard(|| self.0.delete(&parse_key(key)?))
    }

    fn list(
        &self,
        prefix: RStr<'_>,
        cursor: ROption<RStr<'_>>,
        limit: u32,
    ) -> RResult<FfiListPage, FfiError> {
        guard(|| {
            let cursor = cursor.into_option().map(|c| c.as_str());
            self.0
                .list(prefix.as_str(), cursor, limit)
                .map(FfiListPage::from)
        })
    }

    fn public_url(&self, key: RStr<'_>) -> RResult<RString, FfiError> {
        guard(|| self.0.public_url(&parse_key(key)?).map(RString::from))
    }

    fn health(&self) -> RResult<(), FfiError> {
        guard(|| self.0.health())
    }
}

struct WriterAdapter(Box<dyn ObjectWriter>);

impl FfiWriter for WriterAdapter {
    fn write(&mut self, data: RSlice<'_, u8>) -> RResult<(), FfiError> {
        guard(|| self.0.write(data.as_slice()))
    }

    fn commit(self) -> RResult<(), FfiError> {
        guard(|| self.0.commit())
    }

    fn abort(self) -> RResult<(), FfiError> {
        guard(|| self.0.abort())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_symbol_is_the_one_abi_stable_looks_up() {
        assert_eq!(
            EXPORTED_SYMBOL,
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }

    #[test]
    fn panics_become_panicked_errors() {
        let result: RResult<(), FfiError> = guard(|| panic!("boom"));
        let err = DriverError::from(result.unwrap_err());
        assert_eq!(err.kind, ErrorKind::Panicked);
        assert!(err.message.contains("boom"), "{}", err.message);
    }
}
