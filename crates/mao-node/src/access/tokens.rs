//! Bearer tokens: `mao_` + 32 random bytes (base64url). Only a SHA-256 of each secret is
//! kept, in `<data-dir>/tokens.json` (mode 0600); a salted slow hash is not needed for a
//! secret with 256 bits of entropy. The daemon re-reads the file when it changes, so
//! `token create` and `token revoke` take effect on a running node at its next request.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use base64::Engine;
use chrono::{DateTime, Utc};
use mao_api::auth::{Role, TokenInfo};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{write_private, AccessError};

/// The file name of a node's tokens in its data dir.
pub const FILE: &str = "tokens.json";

/// The prefix of every secret, so that a leaked one is recognisable (secret scanners).
const PREFIX: &str = "mao_";

/// Who made a request: the token's name and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Stored {
    tokens: Vec<StoredToken>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredToken {
    name: String,
    role: Role,
    /// Hex SHA-256 of the secret.
    sha256: String,
    created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    uses_left: Option<u32>,
}

impl StoredToken {
    /// Whether the token may still be used at `now`.
    fn usable(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| now < at) && self.uses_left != Some(0)
    }
}

/// How long and how often a token may be used; unlimited by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// When it stops being accepted.
    pub expires_at: Option<DateTime<Utc>>,
    /// How many times it may be used ([`TokenFile::take_use`]).
    pub uses: Option<u32>,
}

/// The token file of a data dir, for the `token` commands (create, list, revoke).
pub struct TokenFile {
    path: PathBuf,
}

impl TokenFile {
    /// The token file of the node whose data dir is `data_dir`.
    pub fn in_data_dir(data_dir: &Path) -> TokenFile {
        TokenFile {
            path: data_dir.join(FILE),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates a token and returns its secret: the only time it is ever shown.
    pub fn create(&self, name: &str, role: Role) -> Result<String, AccessError> {
        self.create_limited(name, role, Limits::default())
    }

    /// Creates a token that expires or may be used a number of times only.
    pub fn create_limited(
        &self,
        name: &str,
        role: Role,
        limits: Limits,
    ) -> Result<String, AccessError> {
        mao_api::validate::name("name", name)?;
        let _lock = self.lock()?;
        let mut stored = self.read()?;
        if stored.tokens.iter().any(|t| t.name == name) {
            return Err(AccessError::AlreadyExists(name.to_owned()));
        }
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| AccessError::io(&self.path, e))?;
        let secret = format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
        );
        stored.tokens.push(StoredToken {
            name: name.to_owned(),
            role,
            sha256: hex(&digest(&secret)),
            created_at: Utc::now(),
            expires_at: limits.expires_at,
            uses_left: limits.uses,
        });
        self.write(&stored)?;
        Ok(secret)
    }

    /// The tokens, by name.
    pub fn list(&self) -> Result<Vec<TokenInfo>, AccessError> {
        let mut tokens: Vec<TokenInfo> = self
            .read()?
            .tokens
            .into_iter()
            .map(|t| TokenInfo {
                name: t.name,
                role: t.role,
                created_at: t.created_at,
                expires_at: t.expires_at,
                uses_left: t.uses_left,
            })
            .collect();
        tokens.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tokens)
    }

    /// Removes the token `name`; requests carrying it are refused from then on.
    pub fn revoke(&self, name: &str) -> Result<(), AccessError> {
        mao_api::validate::name("name", name)?;
        let _lock = self.lock()?;
        let mut stored = self.read()?;
        let before = stored.tokens.len();
        stored.tokens.retain(|t| t.name != name);
        if stored.tokens.len() == before {
            return Err(AccessError::NotFound(name.to_owned()));
        }
        self.write(&stored)
    }

    /// Uses the token `name` once: refused when it has expired or has no use left. A
    /// request that then changes nothing gives the use back ([`TokenFile::give_back`]).
    pub fn take_use(&self, name: &str) -> Result<(), AccessError> {
        let _lock = self.lock()?;
        let mut stored = self.read()?;
        let token = stored
            .tokens
            .iter_mut()
            .find(|t| t.name == name)
            .ok_or_else(|| AccessError::NotFound(name.to_owned()))?;
        if !token.usable(Utc::now()) {
            return Err(AccessError::UsedUp(name.to_owned()));
        }
        if let Some(left) = &mut token.uses_left {
            *left -= 1;
            self.write(&stored)?;
        }
        Ok(())
    }

    /// Gives back the use [`TokenFile::take_use`] took, for a request that changed nothing.
    pub fn give_back(&self, name: &str) -> Result<(), AccessError> {
        let _lock = self.lock()?;
        let mut stored = self.read()?;
        if let Some(token) = stored.tokens.iter_mut().find(|t| t.name == name) {
            if let Some(left) = &mut token.uses_left {
                *left += 1;
                return self.write(&stored);
            }
        }
        Ok(())
    }

    fn read(&self) -> Result<Stored, AccessError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                AccessError::io(
                    &self.path,
                    format!("not a token file ({e}); fix or remove it"),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Stored::default()),
            Err(e) => Err(AccessError::io(&self.path, e)),
        }
    }

    fn write(&self, stored: &Stored) -> Result<(), AccessError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| AccessError::io(dir, e))?;
        }
        let bytes = serde_json::to_vec_pretty(stored).expect("tokens serialise");
        write_private(&self.path, &bytes)
    }

    /// An exclusive lock against another `token` command changing the file at once.
    fn lock(&self) -> Result<std::fs::File, AccessError> {
        use std::os::fd::AsRawFd;
        let path = self.path.with_extension("lock");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| AccessError::io(dir, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| AccessError::io(&path, e))?;
        // SAFETY: flock on a descriptor this function owns; released when the file closes.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(AccessError::io(&path, std::io::Error::last_os_error()));
        }
        Ok(file)
    }
}

/// The tokens a running node accepts, re-read whenever the file changes.
pub struct Tokens {
    path: PathBuf,
    loaded: RwLock<Loaded>,
}

#[derive(Default)]
struct Loaded {
    /// What identifies the file version read: (modified, length, inode).
    stamp: Option<(std::time::SystemTime, u64, u64)>,
    entries: Vec<Entry>,
}

struct Entry {
    principal: Principal,
    hash: [u8; 32],
    expires_at: Option<DateTime<Utc>>,
    uses_left: Option<u32>,
}

impl Tokens {
    /// The tokens of the data dir `data_dir`; an unreadable file is an error at start-up.
    pub fn open(data_dir: &Path) -> Result<Tokens, AccessError> {
        let tokens = Tokens {
            path: data_dir.join(FILE),
            loaded: RwLock::new(Loaded::default()),
        };
        tokens.refresh()?;
        Ok(tokens)
    }

    /// How many tokens the node accepts now.
    pub fn count(&self) -> usize {
        let _ = self.refresh();
        self.loaded.read().expect("tokens lock").entries.len()
    }

    /// The holder of the secret `presented`, if it is a token of this node. Compares the
    /// digest with every token in constant time, so timing tells nothing about any of them.
    pub fn verify(&self, presented: &str) -> Option<Principal> {
        if let Err(e) = self.refresh() {
            // A file that changed and cannot be read may be a revocation: fail closed
            // (no token is accepted) until it can be read again.
            tracing::warn!(error = %e, "cannot read the token file; refusing every token until it can be read");
            return None;
        }
        let presented = digest(presented);
        let loaded = self.loaded.read().expect("tokens lock");
        let now = Utc::now();
        let mut found = None;
        for entry in &loaded.entries {
            if bool::from(entry.hash.ct_eq(&presented)) {
                let usable =
                    entry.expires_at.is_none_or(|at| now < at) && entry.uses_left != Some(0);
                found = usable.then(|| entry.principal.clone());
            }
        }
        found
    }

    fn refresh(&self) -> Result<(), AccessError> {
        let result = self.reload();
        if result.is_err() {
            // Forget the old tokens, and read again at the next request.
            *self.loaded.write().expect("tokens lock") = Loaded::default();
        }
        result
    }

    fn reload(&self) -> Result<(), AccessError> {
        use std::os::unix::fs::MetadataExt;
        let stamp = match std::fs::metadata(&self.path) {
            Ok(m) => Some((
                m.modified().map_err(|e| AccessError::io(&self.path, e))?,
                m.len(),
                m.ino(),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(AccessError::io(&self.path, e)),
        };
        if self.loaded.read().expect("tokens lock").stamp == stamp && stamp.is_some() {
            return Ok(());
        }
        let stored = TokenFile {
            path: self.path.clone(),
        }
        .read()?;
        let mut entries = Vec::with_capacity(stored.tokens.len());
        for token in stored.tokens {
            let hash = unhex(&token.sha256).ok_or_else(|| {
                AccessError::io(
                    &self.path,
                    format!("token {:?} has no valid sha256; revoke it", token.name),
                )
            })?;
            entries.push(Entry {
                principal: Principal {
                    name: token.name,
                    role: token.role,
                },
                hash,
                expires_at: token.expires_at,
                uses_left: token.uses_left,
            });
        }
        *self.loaded.write().expect("tokens lock") = Loaded { stamp, entries };
        Ok(())
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_token_is_accepted_until_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::in_data_dir(dir.path());
        let tokens = Tokens::open(dir.path()).unwrap();
        assert_eq!(tokens.count(), 0);
        let secret = file.create("ci", Role::Operate).unwrap();
        assert!(
            secret.starts_with("mao_") && secret.len() == 4 + 43,
            "{secret}"
        );
        assert_eq!(
            tokens.verify(&secret),
            Some(Principal {
                name: "ci".into(),
                role: Role::Operate
            })
        );
        assert_eq!(tokens.verify("mao_wrong"), None);
        assert_eq!(tokens.verify(""), None);
        // Only the hash is on disk, and only the owner may read it.
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert!(!text.contains(&secret));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        assert!(matches!(
            file.create("ci", Role::Admin),
            Err(AccessError::AlreadyExists(_))
        ));
        let other = file.create("backup", Role::Read).unwrap();
        assert_ne!(other, secret);
        let names: Vec<_> = file.list().unwrap().into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["backup", "ci"]);

        file.revoke("ci").unwrap();
        assert_eq!(tokens.verify(&secret), None);
        assert_eq!(tokens.verify(&other).unwrap().role, Role::Read);
        assert!(matches!(file.revoke("ci"), Err(AccessError::NotFound(_))));
    }

    #[test]
    fn a_counted_token_is_refused_once_used_up_and_an_expired_one_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::in_data_dir(dir.path());
        let tokens = Tokens::open(dir.path()).unwrap();
        let limits = Limits {
            uses: Some(2),
            ..Limits::default()
        };
        let secret = file.create_limited("join-1", Role::Join, limits).unwrap();
        assert!(tokens.verify(&secret).is_some());
        file.take_use("join-1").unwrap();
        file.take_use("join-1").unwrap();
        assert!(matches!(
            file.take_use("join-1"),
            Err(AccessError::UsedUp(_))
        ));
        assert_eq!(tokens.verify(&secret), None);
        assert_eq!(file.list().unwrap()[0].uses_left, Some(0));
        // A use given back (the join changed nothing) makes it usable again.
        file.give_back("join-1").unwrap();
        assert!(tokens.verify(&secret).is_some());

        let past = Limits {
            expires_at: Some(Utc::now() - chrono::Duration::seconds(1)),
            uses: None,
        };
        let expired = file.create_limited("old", Role::Join, past).unwrap();
        assert_eq!(tokens.verify(&expired), None);
        assert!(matches!(file.take_use("old"), Err(AccessError::UsedUp(_))));
        // An unlimited token takes uses without counting.
        let admin = file.create("admin", Role::Admin).unwrap();
        file.take_use("admin").unwrap();
        assert!(tokens.verify(&admin).is_some());
    }

    #[test]
    fn names_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::in_data_dir(dir.path());
        for bad in ["", "../x", "A", "a/b"] {
            assert!(matches!(
                file.create(bad, Role::Read),
                Err(AccessError::Invalid(_))
            ));
        }
        assert!(!file.path().exists());
    }

    #[test]
    fn a_file_that_cannot_be_read_accepts_no_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::in_data_dir(dir.path());
        let secret = file.create("ci", Role::Read).unwrap();
        let tokens = Tokens::open(dir.path()).unwrap();
        assert!(tokens.verify(&secret).is_some());
        // A hand edit gone wrong (or a revocation the daemon cannot read): fail closed.
        std::fs::write(file.path(), b"{ not json").unwrap();
        assert!(tokens.verify(&secret).is_none());
        assert!(Tokens::open(dir.path()).is_err());
        // Fixed: accepted again.
        std::fs::remove_file(file.path()).unwrap();
        let secret = file.create("ci", Role::Read).unwrap();
        assert!(tokens.verify(&secret).is_some());
    }
}
