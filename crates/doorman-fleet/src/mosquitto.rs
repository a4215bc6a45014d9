//! Files for running the fleet channel on Mosquitto instead of the embedded broker.
//!
//! - a password file (`username:$7$...`, the format `mosquitto_passwd` writes),
//! - an ACL file granting the service accounts the service rules and every other
//!   user, through `pattern` lines with `%u`, exactly its own lock topics, so adding a
//!   lock only changes the password file,
//! - a configuration with anonymous access off, those two files, and
//!   `use_username_as_clientid` so that nobody can take over another lock's session
//!   by reusing its client id.
//!
//! Mosquitto re-reads both files on SIGHUP.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::accounts::{Principal, StaticAccounts};
use crate::topics::{TopicScheme, UplinkKind};

/// The generated files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MosquittoFiles {
    /// Contents of the password file.
    pub passwords: String,
    /// Contents of the ACL file.
    pub acl: String,
}

/// Where [`MosquittoFiles::write_to`] put them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MosquittoPaths {
    /// The password file.
    pub passwords: PathBuf,
    /// The ACL file.
    pub acl: PathBuf,
}

impl MosquittoFiles {
    /// The files for every account in `accounts`.
    pub fn generate(scheme: &TopicScheme, accounts: &StaticAccounts) -> Self {
        let entries = accounts.entries();
        let mut passwords = String::new();
        for (username, hash, _) in &entries {
            passwords.push_str(&format!("{username}:{hash}\n"));
        }
        let services: Vec<&str> = entries
            .iter()
            .filter_map(|(u, _, p)| matches!(p, Principal::Service { .. }).then_some(u.as_str()))
            .collect();
        Self { passwords, acl: acl_file(scheme, &services) }
    }

    /// Writes `passwords` and `acl` into `dir` (each through a temp file and a rename,
    /// so a reloading broker never reads half a file); the password file is created
    /// readable by its owner only.
    pub fn write_to(&self, dir: &Path) -> io::Result<MosquittoPaths> {
        let paths = MosquittoPaths { passwords: dir.join("passwords"), acl: dir.join("acl") };
        write_atomically(&paths.passwords, self.passwords.as_bytes())?;
        write_atomically(&paths.acl, self.acl.as_bytes())?;
        Ok(paths)
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    // A temp file of this process's own: several service processes may
    // write the same files at once (the last rename wins, whole).
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temp, path)
}

/// The ACL file: `services` get the service rules; every user gets its own lock topics.
pub fn acl_file(scheme: &TopicScheme, services: &[&str]) -> String {
    let p = scheme.prefix();
    let mut out = String::from(
        "# doorman fleet ACL (generated; do not edit).\n\
         # A lock reads only its own commands and writes only its own events, health and requests.\n\n",
    );
    for user in services {
        out.push_str(&format!("user {user}\n"));
        for kind in UplinkKind::ALL {
            out.push_str(&format!("topic read {p}/locks/+/{}\n", kind.as_str()));
        }
        out.push_str(&format!("topic write {p}/locks/+/commands/#\n\n"));
    }
    out.push_str(&format!("pattern read {p}/locks/%u/commands/#\n"));
    for kind in UplinkKind::ALL {
        out.push_str(&format!("pattern write {p}/locks/%u/{}\n", kind.as_str()));
    }
    out
}

/// A Mosquitto configuration listening on `listen` with the files in `paths`; `data`
/// is a folder for its log (tests run a second Mosquitto under a temp dir with it).
/// Started as root, Mosquitto drops to the user `run_as` names (its default is
/// `mosquitto`), who must be able to read the files.
pub fn config_file(listen: SocketAddr, paths: &MosquittoPaths, data: &Path, run_as: Option<&str>) -> String {
    let user = run_as.map(|u| format!("user {u}\n")).unwrap_or_default();
    format!(
        "# doorman fleet broker (generated).\n\
         {user}\
         per_listener_settings false\n\
         allow_anonymous false\n\
         password_file {passwords}\n\
         acl_file {acl}\n\
         persistence false\n\
         log_dest file {log}\n\
         log_type error\n\
         log_type warning\n\
         log_type notice\n\
         listener {port} {host}\n\
         use_username_as_clientid true\n",
        passwords = paths.passwords.display(),
        acl = paths.acl.display(),
        log = data.join("mosquitto.log").display(),
        port = listen.port(),
        host = listen.ip(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{MqttCredentials, PasswordHash};
    use doorman_protocol::LockId;

    #[test]
    fn the_files_name_every_account_and_the_per_lock_patterns() {
        let accounts = StaticAccounts::new();
        let lock = LockId([3; 16]);
        let c = MqttCredentials::for_lock(lock, &mut rand_core::OsRng);
        accounts.add_lock(lock, c.hash(&mut rand_core::OsRng));
        accounts.add_service("doorman-service", PasswordHash::new("x", &mut rand_core::OsRng)).unwrap();
        let files = MosquittoFiles::generate(&TopicScheme::default(), &accounts);
        let lines: Vec<&str> = files.passwords.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().any(|l| l.starts_with("03030303-0303-0303-0303-030303030303:$7$")));
        let hash = lines.iter().find_map(|l| l.strip_prefix("03030303-0303-0303-0303-030303030303:")).unwrap();
        assert!(PasswordHash::parse(hash).unwrap().verify(c.password.expose()));
        assert!(files.acl.contains("user doorman-service\ntopic read doorman/locks/+/events\n"));
        assert!(files.acl.contains("pattern read doorman/locks/%u/commands/#\n"));
        assert!(files.acl.contains("pattern write doorman/locks/%u/events\n"));
        assert!(!files.acl.contains("pattern write doorman/locks/%u/commands"));
        let dir = tempfile::tempdir().unwrap();
        let paths = files.write_to(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&paths.acl).unwrap(), files.acl);
        let conf = config_file("127.0.0.1:18883".parse().unwrap(), &paths, dir.path(), None);
        assert!(conf.contains("listener 18883 127.0.0.1\n"));
        assert!(conf.contains("allow_anonymous false\n"));
    }
}
