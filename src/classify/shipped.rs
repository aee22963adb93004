//! The model shipped in `models/`, compiled into the binary when it was present at build
//! time (see build.rs).

use std::path::Path;

use sha2::{Digest, Sha256};

use super::model::{ModelError, ModelFile};

#[cfg(modgate_embedded_model)]
const SHIPPED: Option<(&[u8], &str)> = Some((
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/modgate.model")),
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/modgate.model.sha256")),
));
#[cfg(not(modgate_embedded_model))]
const SHIPPED: Option<(&[u8], &str)> = None;

/// Where the embedded model claims to come from, for messages.
pub const SHIPPED_NAME: &str = "models/modgate.model (built in)";

/// Decodes the built-in model, checking it against its built-in checksum.
/// `None` when this binary was built without a model.
pub fn shipped_model() -> Option<Result<ModelFile, ModelError>> {
    let (bytes, checksum) = SHIPPED?;
    let path = Path::new(SHIPPED_NAME);
    let expected = checksum.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
    let actual: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    if expected != actual {
        return Some(Err(ModelError::Checksum {
            path: path.to_path_buf(),
            checksum_path: "models/modgate.model.sha256".into(),
            expected,
            actual,
        }));
    }
    Some(ModelFile::from_bytes(path, bytes))
}
