//! mirra: mirror every object to every storage provider the owner lists, read from
//! whichever one answers, and verify every byte against the owner's signature.
//!
//! Data flows one way: CLI/gateway → [`store`] → replicas → drivers. Nothing below the
//! store knows about signatures; nothing above the replica layer knows about FFI: front
//! doors get their replicas from [`providers`] (from a config or a zone file), which
//! opens drivers; the CLI asks the [`loader`] only which driver claims a name or a
//! scheme (`lookup`, `zonefile check`, `doctor`). docs/architecture.md is the map.

pub mod chaos;
pub mod cli;
pub mod config;
pub mod flush_group;
pub mod gaia;
pub mod gateway;
pub mod health;
pub mod identity;
pub mod loader;
pub mod manifest;
pub mod printable;
pub mod provider_order;
pub mod providers;
pub mod replica;
pub mod s3_gateway;
pub mod state;
pub mod store;
pub mod tree;
pub mod user_key;
pub mod write_lock;
pub mod zonefile;
