//! The wiki crate's tests: rendering, injection, the catalog and search.

mod catalog;
mod fuzz;
mod render;
mod search;
mod xss;
