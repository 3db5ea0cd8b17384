//! The JWT secret: from config, or generated once and kept in the data directory.

use std::path::Path;

use rand::RngExt;

use crate::config::Config;

const SECRET_FILE: &str = "jwt-secret";

/// Returns the configured secret, or the one stored in `data_dir/jwt-secret`, creating it
/// (64 random bytes, hex) with owner-only permissions on first start. Never logged.
pub fn load_or_generate(config: &Config) -> anyhow::Result<String> {
    if let Some(secret) = &config.authentication.secret {
        return Ok(secret.clone());
    }
    let path = config.data_dir.join(SECRET_FILE);
    if path.exists() {
        let secret = std::fs::read_to_string(&path)?.trim().to_string();
        if secret.len() >= 32 {
            return Ok(secret);
        }
        anyhow::bail!("{} holds a secret shorter than 32 bytes", path.display());
    }
    let mut bytes = [0u8; 64];
    rand::rng().fill(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &secret)?;
    tracing::debug!(path = %path.display(), "generated a new JWT secret");
    Ok(secret)
}

pub(crate) fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, contents)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
