//! mirra: mirror every object to every storage provider the owner lists, read from
//! whichever one answers, and verify every byte against the owner's signature.
//!
//! Data flows one way: CLI/gateway → [`store`] → replicas → drivers. Nothing below the
//! store knows about signatures; nothing above the replica layer knows about FFI.

pub mod config;
pub mod identity;
pub mod manifest;
pub mod state;
pub mod loader;
pub mod replica;
pub mod store;
pub mod user_key;
pub mod cli;
