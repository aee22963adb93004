//! Build script: embeds the shipped model when it is present, so `modgate check` and
//! `modgate serve` work right after a build with no files beside the binary.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(modgate_embedded_model)");
    println!("cargo::rerun-if-changed=models/modgate.model");
    println!("cargo::rerun-if-changed=models/modgate.model.sha256");
    if std::path::Path::new("models/modgate.model").exists() && std::path::Path::new("models/modgate.model.sha256").exists() {
        println!("cargo::rustc-cfg=modgate_embedded_model");
    }
}
