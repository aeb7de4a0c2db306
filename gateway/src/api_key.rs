//! The API key `sheetmesh up` generates when `API_KEY` is unset, kept in
//! `DATA_DIR/api_key` (mode 0600) so that it survives restarts and the page
//! and scripts keep working.

use std::{
    fs, io,
    io::Write as _,
    path::{Path, PathBuf},
};

use rand::RngCore as _;
use sheetmesh_common::Secret;

use crate::config::ApiKeySource;

/// The key file's name inside `DATA_DIR`.
pub const FILE_NAME: &str = "api_key";

/// Reads the key kept in `dir`, or generates one (`sk-sheetmesh-` + 32 random
/// bytes as hex), writes it with mode 0600 and returns it.
pub fn load_or_generate(dir: &Path) -> io::Result<(Secret, ApiKeySource)> {
    let path = dir.join(FILE_NAME);
    match fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok((Secret::new(text.trim()), ApiKeySource::Stored(path))),
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    fs::create_dir_all(dir)?;
    let key = generate();
    write_private(&path, key.expose())?;
    Ok((key, ApiKeySource::Generated(path)))
}

/// A fresh random key.
pub fn generate() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(format!("sk-sheetmesh-{}", hex::encode(bytes)))
}

fn write_private(path: &PathBuf, key: &str) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Created 0600 from the start: no window in which others can read it.
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(key.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_private_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (key, source) = load_or_generate(&dir.path().join("nested")).unwrap();
        let ApiKeySource::Generated(path) = source else { panic!("expected a generated key") };
        assert!(key.expose().starts_with("sk-sheetmesh-") && key.expose().len() == 13 + 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let (again, source) = load_or_generate(&dir.path().join("nested")).unwrap();
        assert_eq!(again, key);
        assert_eq!(source, ApiKeySource::Stored(path));
    }

    #[test]
    fn two_generated_keys_differ() {
        assert_ne!(generate(), generate());
    }
}
