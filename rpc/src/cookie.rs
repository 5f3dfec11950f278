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
    std::fs::write(&tmp, format!("{COOKIE_USER}:{secret}"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
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
