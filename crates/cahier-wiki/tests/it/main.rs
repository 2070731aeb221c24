//! The wiki crate's tests: rendering, injection, the catalog and search.

mod catalog;
mod fuzz;
mod html;
mod render;
mod search;
mod xss;
