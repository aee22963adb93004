#![forbid(unsafe_code)]
//! modgate: comment moderation for CMS backends.

pub mod classify;
pub mod cli;
pub mod text;
