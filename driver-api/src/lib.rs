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
//! 3. run the conformance kit (feature `testkit`, `testkit::run_all` in-process and
//!    `testkit::run_library` on the built `.so`) against it.
//!
//! A driver built on an async client library owns one runtime: feature `runtime`,
//! `runtime::DriverRuntime`.
//!
//! # The write contract
//! One rule, which the host, the conformance kit, the skeleton and `docs/drivers.md`
//! all follow:
//!
//! - [`Capabilities::WRITE`] means [`StorageDriver::put`] works. The host writes small
//!   objects (manifests, tombstones) with `put`, and writes nothing at all to a provider
//!   without `WRITE`.
//! - [`Capabilities::STREAMING_WRITE`] adds [`StorageDriver::begin_write`]: nothing
//!   visible before `commit`, no trace after `abort` or drop. Declare it together with
//!   `WRITE` (the default `put` streams through `begin_write`).
//! - The host streams object bytes through `begin_write` when the driver has
//!   `STREAMING_WRITE`; when it has only `WRITE`, it buffers the object in memory, up to
//!   64 MiB, and calls `put` once at commit. Larger objects fail on such a provider
//!   with a message saying so.
//! - Every other operation is called only when its capability is declared: `READ` for
//!   `stat` and `read`, `RANGE_READ` for a `read` at a non-zero offset (without it the
//!   host reads from the start and skips), `LIST`, `DELETE`, `PUBLIC_URL`. `health`
//!   needs none; its default answers `Ok`.
//! - [`Capabilities::FLUSH`] (since 1.2) adds [`StorageDriver::begin_unsynced_write`]
//!   and [`StorageDriver::flush`]: writes that become durable together at the next
//!   flush instead of one sync each. The host flushes after writing a batch's bytes and
//!   again after committing them, before it reports success.
//!
//! The host loads the library with [`DriverLibrary::load`] and sees each opened provider
//! as a [`LoadedDriver`], which implements the same [`StorageDriver`] trait.
//!
//! # Compatibility
//! Within 1.x, nothing is removed or reordered: new root-module functions and driver
//! methods are appended with default behaviour, new [`ErrorKind`]s reach old hosts as
//! `Other`, and new [`Capabilities`] bits are ignored by hosts that do not know them.
//! A driver built against 1.x loads in any host of the same major version whose minor
//! version is not older than the driver's. (abi_stable refuses a root module with fewer
//! fields than the host's layout, so the host checks a library against each released
//! root-module layout in turn; a test loads a driver built against the packaged 1.0.0.)
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

#[cfg(feature = "runtime")]
pub mod runtime;

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
