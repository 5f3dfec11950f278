//! The node's persistent P2P identity: an ed25519 key in `DATA_DIR/p2p.key` (protobuf
//! encoding, mode 0600), created on first start. A stable peer id lets peers keep us in their
//! address books and scores across restarts.

use libp2p::identity::Keypair;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const KEY_FILE: &str = "p2p.key";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read the P2P key {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the P2P key {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the P2P key {path} is not an ed25519 key ({reason}); move it away to create a new identity")]
    Invalid { path: PathBuf, reason: String },
}

/// Loads the key from `dir`, creating it when absent.
pub fn load_or_create(dir: &Path) -> Result<Keypair, IdentityError> {
    let path = dir.join(KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Keypair::from_protobuf_encoding(&bytes).map_err(|e| IdentityError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate_ed25519();
            let bytes = key
                .to_protobuf_encoding()
                .map_err(|e| IdentityError::Invalid {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            write_private(&path, &bytes).map_err(|source| IdentityError::Write {
                path: path.clone(),
                source,
            })?;
            tracing::info!(peer_id = %key.public().to_peer_id(), "created a new P2P identity in {}", path.display());
            Ok(key)
        }
        Err(source) => Err(IdentityError::Read { path, source }),
    }
}

/// Writes through a temporary file and a rename, so a crash never leaves half a key.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_persists_and_bad_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path()).unwrap();
        let b = load_or_create(dir.path()).unwrap();
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(KEY_FILE), b"garbage").unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("move it away"), "{err}");
    }
}
