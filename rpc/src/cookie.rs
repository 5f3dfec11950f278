//! The API cookie, as Bitcoin Core does it: a random secret written to `DATA_DIR/.cookie` at
//! start (owner-only), required as HTTP Basic `__cookie__:SECRET` for methods that change state.
//! Whoever can read the data directory may change the node; nobody else can.

use std::io::Read;
use std::path::{Path, PathBuf};

pub const COOKIE_USER: &str = "__cookie__";
pub const COOKIE_FILE: &str = ".cookie";

/// Creates a new cookie file in `dir` and returns the secret.
pub fn create(dir: &Path) -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(COOKIE_FILE);
    let tmp = dir.join(".cookie.tmp");
    // A leftover from a crash may have other permissions: start afresh.
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    // Owner-only from the moment it exists: created 0600, never briefly readable under the
    // umask's default 0644 before a chmod.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    std::io::Write::write_all(&mut file, format!("{COOKIE_USER}:{secret}").as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, &path)?;
    Ok(secret)
}

/// Reads `user:secret` from a cookie file.
pub fn read(path: &Path) -> std::io::Result<String> {
    Ok(std::fs::read_to_string(path)?.trim().to_string())
}

/// The cookie path in a data directory.
pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(COOKIE_FILE)
}

/// Removes the cookie at shutdown.
pub fn remove(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(COOKIE_FILE));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_owner_only_and_readable_back() {
        let dir = tempfile::tempdir().unwrap();
        // A stale temporary file with loose permissions does not leak into the new cookie.
        std::fs::write(dir.path().join(".cookie.tmp"), "old").unwrap();
        let secret = create(dir.path()).unwrap();
        assert_eq!(secret.len(), 64);
        let line = read(&path_in(dir.path())).unwrap();
        assert_eq!(line, format!("{COOKIE_USER}:{secret}"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path_in(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_ne!(
            create(dir.path()).unwrap(),
            secret,
            "a new secret at every start"
        );
        remove(dir.path());
        assert!(!path_in(dir.path()).exists());
    }
}
