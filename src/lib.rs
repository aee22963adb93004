#![forbid(unsafe_code)]
//! modgate: comment moderation for CMS backends.
//!
//! A comment's way through the service, and where each step lives:
//!
//! 1. [`api`]: the gRPC edge (tonic). Authenticates the site's API key, validates the
//!    request (INVALID_ARGUMENT naming the field), and turns every error into a status.
//! 2. [`pipeline`]: runs the checks in order: idempotency (a resubmitted comment id gets
//!    its first decision), honeypot and captcha, rate limits ([`limits`]), banned and
//!    suspect terms and links on the normalized text ([`text`]), the classifier
//!    ([`classify`]), duplicates and author history, each adding [`policy::Signal`]s.
//! 3. [`policy`]: pure; folds the signals with the site's policy into approve, hold or
//!    reject with reasons (shadow mode records and approves).
//! 4. [`store`]: records the decision durably before the answer is sent.
//! 5. [`decisions`]: once a moderator resolves a held comment, brings the final decision
//!    back to the CMS at least once (`WatchDecisions` streams, signed webhooks), undos
//!    included; [`classify::feedback`] turns those decisions into training labels.
//!
//! [`config`] reads and validates the TOML configuration before anything listens;
//! [`server`] wires it all together and handles health, reflection, metrics and
//! graceful shutdown; [`cli`] is the `modgate` command line.

pub mod api;
pub mod captcha;
pub mod classify;
pub mod cli;
pub mod config;
pub mod decisions;
pub mod limits;
pub mod pipeline;
pub mod policy;
pub mod server;
pub mod store;
pub mod text;
