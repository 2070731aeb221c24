//! The use cases on a real store (sled in a temporary folder): sessions, the
//! setup link, promoting.

mod sessions;
