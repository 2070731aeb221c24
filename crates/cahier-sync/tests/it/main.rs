//! Tests of the sync engine: the wire format, and the hub on a deterministic
//! in-memory network with clients that are real Automerge peers.

mod fuzz;
mod hostile;
mod nodes;
mod relay;
mod round;
mod sim;
mod wire;
