//! The stable interface between the mirra host and its storage drivers.
//!
//! mirra treats every storage provider as a dumb drive: a driver only stores and returns
//! bytes under keys, and the host verifies everything it reads against the owner's
//! signature. Drivers ship as shared libraries that the host loads at run time, so this
//! crate is the contract a third party builds against:
//!
//! 1. implement [`StorageDriver`] (and [`ObjectWriter`] for streamed writes) for your
//!    store, and [`DriverFactory`] to describe and open it;
//! 2. call [`export_driver!`] once in a crate with `crate-type = ["cdylib", "rlib"]`;
//! 3. run the conformance kit (feature `testkit`, `testkit::run_all`) against it.
//!
//! The host loads the library with [`DriverLibrary::load`] and sees each opened provider
//! as a [`LoadedDriver`], which implements the same [`StorageDriver`] trait.
//!
//! # Compatibility
//! Within 1.x, nothing is removed or reordered: new root-module functions and driver
//! methods are appended with default behaviour, new [`ErrorKind`]s reach old hosts as
//! `Other`, and new [`Capabilities`] bits are ignored by hosts that do not know them.
//! A driver built against 1.x loads in any host of the same major version whose minor
//! version is not older than the driver's.
#![deny(missing_docs)]

mod context;
mod driver;
mod error;
mod export;
mod ffi;
mod foreign;
mod key;
mod policy;
mod types;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use context::HostContext;
pub use driver::{DriverFactory, DriverResult, ObjectWriter, StorageDriver};
pub use error::{DriverError, ErrorKind};
pub use foreign::{DriverLibrary, LoadError, LoadedDriver};
pub use key::{Key, KeyError, MAX_KEY_LEN};
pub use policy::{AddressClass, AddressPolicy};
pub use types::{Capabilities, DriverInfo, ListEntry, ListPage, ObjectMeta};

/// Items the [`export_driver!`] macro expands to. Not part of the stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::{lib_header, lib_header_v1_0};
    pub use abi_stable::library::LibHeader;
}
