//! Build script:
//! - compiles `proto/` with protox (pure Rust, so no `protoc` is needed) into tonic/prost
//!   code, and writes the descriptor set that gRPC server reflection serves;
//! - embeds the shipped model when it is present, so `modgate check` and `modgate serve`
//!   work right after a build with no files beside the binary.

use std::path::PathBuf;

use prost::Message;

const PROTOS: &[&str] = &[
    "proto/modgate/v1/moderation.proto",
    "proto/modgate/v1/diagnostics.proto",
    "proto/modgate/v1/review.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo::rerun-if-changed=proto");
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("modgate_descriptor.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;

    println!("cargo::rustc-check-cfg=cfg(modgate_embedded_model)");
    println!("cargo::rerun-if-changed=models/modgate.model");
    println!("cargo::rerun-if-changed=models/modgate.model.sha256");
    let model = std::path::Path::new("models/modgate.model");
    if model.exists() && std::path::Path::new("models/modgate.model.sha256").exists() {
        println!("cargo::rustc-cfg=modgate_embedded_model");
    }
    Ok(())
}
