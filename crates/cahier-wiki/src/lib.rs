//! The wiki for readers: Markdown rendered safely, the catalog of published
//! pages, search, and the reader's HTML pages. Pure: no IO, no clock.
//!
//! - [`render`]: Markdown to sanitised HTML, wiki links, French spacing;
//! - [`catalog`]: the published pages (their published version, never the draft),
//!   backlinks and tags;
//! - [`search`]: full-text search (tantivy in memory, French stemming);
//! - [`html`]: the pages and the Atom feed, in French or English ([`i18n`]).

pub mod catalog;
pub mod html;
pub mod i18n;
pub mod render;
pub mod search;

pub use catalog::{Catalog, Published};
pub use i18n::Lang;
pub use render::{Heading, Rendered, render, render_as};
