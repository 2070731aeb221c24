//! The use cases on a real store (sled in a temporary folder): sessions, the
//! setup link, promoting, preparing the next meeting, page
//! templates; images and attachments
//! on every backend.

mod files;
mod next_meeting;
mod sessions;
mod templates;
