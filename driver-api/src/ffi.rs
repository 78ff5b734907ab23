//! The `#[repr(C)]` types that cross the shared-library boundary.
//!
//! Everything here is an implementation detail of [`export_driver!`](crate::export_driver)
//! and [`LoadedDriver`](crate::LoadedDriver); driver authors never name it. Field order
//! and meaning are frozen for 1.x: new root-module functions and trait methods are only
//! appended after the `last_prefix_field` markers, with defaults.
// The sabi_trait expansion trips these lints; the code is generated, not ours.
#![allow(non_local_definitions, missing_docs, clippy::unnecessary_cast)]

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, ROption, RResult, RSlice, RSliceMut, RStr, RString, RVec},
    StableAbi,
};

use crate::{Capabilities, DriverError, DriverInfo, ErrorKind, ListEntry, ListPage};

#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct FfiError {
    pub kind: u8,
    pub message: RString,
    pub retryable: bool,
}

impl From<DriverError> for FfiError {
    fn from(e: DriverError) -> Self {
        Self {
            kind: e.kind.code(),
            message: e.message.into(),
            retryable: e.retryable,
        }
    }
}

impl From<FfiError> for DriverError {
    fn from(e: FfiError) -> Self {
        Self {
            kind: ErrorKind::from_code(e.kind),
            message: e.message.into(),
            retryable: e.retryable,
        }
    }
}

#[repr(C)]
#[derive(StableAbi)]
pub struct FfiDriverInfo {
    pub name: RString,
    pub version: RString,
    pub url_schemes: RVec<RString>,
    pub capabilities: u32,
}

impl From<DriverInfo> for FfiDriverInfo {
    fn from(i: DriverInfo) -> Self {
        Self {
            name: i.name.into(),
            version: i.version.into(),
            url_schemes: i.url_schemes.into_iter().map(RString::from).collect(),
            capabilities: i.capabilities.bits(),
        }
    }
}

impl From<FfiDriverInfo> for DriverInfo {
    fn from(i: FfiDriverInfo) -> Self {
        Self {
            name: i.name.into(),
            version: i.version.into(),
            url_schemes: i.url_schemes.into_iter().map(String::from).collect(),
            capabilities: Capabilities::from_bits(i.capabilities),
        }
    }
}

#[repr(C)]
#[derive(StableAbi)]
pub struct FfiListEntry {
    pub key: RString,
    pub size: u64,
}

#[repr(C)]
#[derive(StableAbi)]
pub struct FfiListPage {
    pub entries: RVec<FfiListEntry>,
    pub next_cursor: ROption<RString>,
}

impl From<ListPage> for FfiListPage {
    fn from(p: ListPage) -> Self {
        Self {
            entries: p
                .entries
                .into_iter()
                .map(|e| FfiListEntry {
                    key: e.key.into(),
                    size: e.size,
                })
                .collect(),
            next_cursor: p.next_cursor.map(RString::from).into(),
        }
    }
}

impl From<FfiListPage> for ListPage {
    fn from(p: FfiListPage) -> Self {
        Self {
            entries: p
                .entries
                .into_iter()
                .map(|e| ListEntry {
                    key: e.key.into(),
                    size: e.size,
                })
                .collect(),
            next_cursor: p.next_cursor.into_option().map(String::from),
        }
    }
}

/// The host's log sink as seen by a driver: level (1 = error .. 5 = trace), the
/// driver's name, the event's target and its formatted message.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct FfiHostContext {
    pub log: extern "C" fn(level: u8, driver: RStr<'_>, target: RStr<'_>, message: RStr<'_>),
    pub max_level: u8,
}

#[sabi_trait]
pub trait FfiWriter: Send {
    fn write(&mut self, data: RSlice<'_, u8>) -> RResult<(), FfiError>;
    fn commit(self) -> RResult<(), FfiError>;
    #[sabi(last_prefix_field)]
    fn abort(self) -> RResult<(), FfiError>;
}

pub type FfiWriterBox = FfiWriter_TO<'static, RBox<()>>;

#[sabi_trait]
pub trait FfiDriver: Send + Sync {
    fn stat(&self, key: RStr<'_>) -> RResult<u64, FfiError>;
    fn read(&self, key: RStr<'_>, offset: u64, buf: RSliceMut<'_, u8>) -> RResult<usize, FfiError>;
    fn put(&self, key: RStr<'_>, data: RSlice<'_, u8>) -> RResult<(), FfiError>;
    fn begin_write(&self, key: RStr<'_>) -> RResult<FfiWriterBox, FfiError>;
    fn delete(&self, key: RStr<'_>) -> RResult<(), FfiError>;
    fn list(
        &self,
        prefix: RStr<'_>,
        cursor: ROption<RStr<'_>>,
        limit: u32,
    ) -> RResult<FfiListPage, FfiError>;
    fn public_url(&self, key: RStr<'_>) -> RResult<RString, FfiError>;
    #[sabi(last_prefix_field)]
    fn health(&self) -> RResult<(), FfiError>;
}

pub type FfiDriverBox = FfiDriver_TO<'static, RBox<()>>;

/// Added in 1.2, beside [`FfiDriver`] rather than in it: abi_stable refuses a library
/// whose vtable has fewer methods than the host's, so `FfiDriver` stays as 1.0 froze it.
#[sabi_trait]
pub trait FfiFlush: Send + Sync {
    fn begin_unsynced_write(&self, key: RStr<'_>) -> RResult<FfiWriterBox, FfiError>;
    #[sabi(last_prefix_field)]
    fn flush(&self) -> RResult<(), FfiError>;
}

pub type FfiFlushBox = FfiFlush_TO<'static, RBox<()>>;

/// One opened provider with its 1.2 entry points.
#[repr(C)]
#[derive(StableAbi)]
pub struct FfiOpened {
    pub driver: FfiDriverBox,
    pub flush: FfiFlushBox,
}

/// An [`AddressPolicy`](crate::AddressPolicy) on the wire: class bits, extra addresses
/// as text, and whether local files may be opened.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct FfiAddressPolicy {
    pub classes: u32,
    pub also: RVec<RString>,
    pub local_files: bool,
}

impl From<&crate::AddressPolicy> for FfiAddressPolicy {
    fn from(p: &crate::AddressPolicy) -> Self {
        Self {
            classes: p.class_bits(),
            also: p
                .extra_addresses()
                .iter()
                .map(|ip| RString::from(ip.to_string()))
                .collect(),
            local_files: p.allows_local_files(),
        }
    }
}

impl From<&FfiAddressPolicy> for crate::AddressPolicy {
    fn from(p: &FfiAddressPolicy) -> Self {
        // An address that does not parse allows nothing: dropping it only narrows.
        let also = p
            .also
            .iter()
            .filter_map(|a| a.as_str().parse().ok())
            .collect();
        Self::from_parts(p.classes, also, p.local_files)
    }
}

/// The root module every driver library exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = DriverModuleRef)))]
#[sabi(missing_field(panic))]
pub struct DriverModule {
    pub info: extern "C" fn() -> FfiDriverInfo,
    pub open: extern "C" fn(FfiHostContext, RStr<'_>) -> RResult<FfiDriverBox, FfiError>,
    #[sabi(last_prefix_field)]
    pub open_url: extern "C" fn(FfiHostContext, RStr<'_>) -> RResult<FfiDriverBox, FfiError>,
    /// Added in 1.1: `open_url` under an address policy. abi_stable refuses a root
    /// module with fewer fields than the host's, so drivers built before 1.1 are
    /// loaded through [`v1_0::DriverModuleRef`] instead and have no such entry.
    #[sabi(missing_field(option))]
    pub open_url_within: extern "C" fn(
        FfiHostContext,
        RStr<'_>,
        &FfiAddressPolicy,
    ) -> RResult<FfiDriverBox, FfiError>,
    /// Added in 1.2: `open`, with the provider's flush entry points. Drivers built
    /// before 1.2 are loaded through [`v1_1::DriverModuleRef`] and have none.
    #[sabi(missing_field(option))]
    pub open_flushing: extern "C" fn(FfiHostContext, RStr<'_>) -> RResult<FfiOpened, FfiError>,
}

impl RootModule for DriverModuleRef {
    declare_root_module_statics! {DriverModuleRef}
    const BASE_NAME: &'static str = "mirra_driver";
    const NAME: &'static str = "mirra driver";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// The root module exactly as 1.1 declared it; see [`v1_0`] for why it is kept.
pub mod v1_1 {
    use abi_stable::{
        declare_root_module_statics, library::RootModule, package_version_strings,
        sabi_types::VersionStrings, std_types::RResult, std_types::RStr, StableAbi,
    };

    use super::{FfiAddressPolicy, FfiDriverBox, FfiDriverInfo, FfiError, FfiHostContext};

    /// Never change: this is what drivers built against 1.1 export.
    #[repr(C)]
    #[derive(StableAbi)]
    #[sabi(kind(Prefix(prefix_ref = DriverModuleRef)))]
    #[sabi(missing_field(panic))]
    pub struct DriverModule {
        pub info: extern "C" fn() -> FfiDriverInfo,
        pub open: extern "C" fn(FfiHostContext, RStr<'_>) -> RResult<FfiDriverBox, FfiError>,
        #[sabi(last_prefix_field)]
        pub open_url: extern "C" fn(FfiHostContext, RStr<'_>) -> RResult<FfiDriverBox, FfiError>,
        #[sabi(missing_field(option))]
        pub open_url_within: extern "C" fn(
            FfiHostContext,
            RStr<'_>,
            &FfiAddressPolicy,
        ) -> RResult<FfiDriverBox, FfiError>,
    }

    impl RootModule for DriverModuleRef {
        declare_root_module_statics! {DriverModuleRef}
        const BASE_NAME: &'static str = "mirra_driver";
        const NAME: &'static str = "mirra driver";
        const VERSION_STRINGS: VersionStrings = package_version_strings!();
    }
}

/// The root module exactly as 1.0 declared it. abi_stable only accepts a library whose
/// root module has at least the host's fields, so a driver built against 1.0 fails the
/// check against [`DriverModule`]; the host then checks it against this frozen copy
/// (same type name and fields), which it passes, and uses the three 1.0 entry points.
pub mod v1_0 {
    use abi_stable::{
        declare_root_module_statics, library::RootModule, package_version_strings,
        sabi_types::VersionStrings, std_types::RResult, std_types::RStr, StableAbi,
    };

    use super::{FfiDriverBox, FfiDriverInfo, FfiError, FfiHostContext};

    /// Never change: this is what drivers built against 1.0 export.
    #[repr(C)]
    #[derive(StableAbi)]
    #[sabi(kind(Prefix(prefix_ref = DriverModuleRef)))]
    #[sabi(missing_field(panic))]
    pub struct DriverModule {
        pub info: extern "C" fn() -> FfiDriverInfo,
        pub open: extern "C" fn(FfiHostContext, RStr<'_>) -> RResult<FfiDriverBox, FfiError>,
        #[sabi(last_prefix_field)]
        pub open_url: extern "C" fn(FfiHostContext, RStr<'_>) -> RResult<FfiDriverBox, FfiError>,
    }

    impl RootModule for DriverModuleRef {
        declare_root_module_statics! {DriverModuleRef}
        const BASE_NAME: &'static str = "mirra_driver";
        const NAME: &'static str = "mirra driver";
        const VERSION_STRINGS: VersionStrings = package_version_strings!();
    }
}
