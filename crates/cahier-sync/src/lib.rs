//! Cahier's sync engine: the automerge-repo protocol (version "1") as a pure state
//! machine, with no IO inside.
//!
//! Start at [`Hub`]: it takes [`Input`]s (a peer connected, bytes received, a
//! peer left, a document loaded, a document persisted, another node's changes
//! or presence, a tick) and returns [`Output`]s (send, close with a reason,
//! load, persist, unload, presence for the other nodes). The server crate runs
//! it on sockets and a store; tests run it on an in-memory network. [`wire`] is the
//! CBOR message format, owned by this crate alone.

pub mod check;
pub mod doc;
pub mod hub;
pub mod presence;
pub mod relay;
pub mod round;
pub mod router;
pub mod wire;

pub use hub::{Access, AllowAll, Config, ConnId, Ephemeral, Hub, Input, Limits, Output, PersistKind, Policy, Stats};
