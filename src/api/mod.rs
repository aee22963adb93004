//! The gRPC edge: generated types, the Moderation service, authentication and the one
//! place where errors become `tonic::Status`.

mod auth;
pub mod metrics;
mod moderation;
mod review;

pub use auth::ApiKeys;
pub use moderation::{DiagnosticsService, ModerationService};
pub use review::ReviewService;

/// Code generated from `proto/` by build.rs.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto {
    tonic::include_proto!("modgate.v1");

    /// The encoded descriptors of every proto file, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("modgate_descriptor");
}
