//! Talking to a remote: credentials and host-key callbacks, and turning libgit2's errors
//! into the variants a caller can act on.
//!
//! Every exchange connects first and transfers second, so that anything that goes wrong
//! while connecting (no route, repository moved away, sshd down) is reported as
//! [`Error::Network`] whatever class libgit2 gives it, unless it was the credentials or
//! the host key.

use std::cell::RefCell;
use std::rc::Rc;

use git2::{CertificateCheckStatus, Cred, CredentialType, ErrorClass, ErrorCode, RemoteCallbacks};

use crate::credentials::{is_ssh, redact_url, ssh_port, url_host, Credentials};
use crate::error::{Error, Result};
use crate::known_hosts;

/// What the callbacks saw during one exchange with a remote.
#[derive(Default)]
struct Seen {
    /// Why the credentials were refused, in words that name no secret.
    auth_refused: Option<String>,
    /// Why the host key was not trusted.
    host_key: Option<String>,
}

/// How often one connection asked for each kind of credential.
#[derive(Default)]
struct Tries {
    username: u32,
    ssh_key: u32,
    agent: u32,
    token: u32,
}

/// One exchange with one remote.
pub(crate) struct Session {
    creds: Credentials,
    /// The URL as it may be shown.
    pub(crate) remote: String,
    port: u16,
    /// The host of the registered remote: the only one any credential is sent to.
    host: Option<String>,
    seen: Rc<RefCell<Seen>>,
}

impl Session {
    pub(crate) fn new(url: &str, creds: &Credentials) -> Result<Session> {
        if is_ssh(url) {
            if let Some(key) = &creds.ssh_key {
                std::fs::File::open(key).map_err(|e| {
                    Error::invalid("ssh key", format!("cannot read {}: {e}", key.display()))
                })?;
            }
        }
        Ok(Session {
            creds: creds.clone(),
            remote: redact_url(url),
            port: ssh_port(url),
            host: url_host(url),
            seen: Rc::default(),
        })
    }

    /// Callbacks that answer credential requests once per kind of secret (libgit2 asks
    /// again after a refusal; the second ask is the refusal) and check SSH host keys.
    pub(crate) fn callbacks(&self) -> RemoteCallbacks<'static> {
        let mut callbacks = RemoteCallbacks::new();
        let creds = self.creds.clone();
        let seen = self.seen.clone();
        // Counted per set of callbacks, that is per connection: a clone connects twice.
        let mut tries = Tries::default();
        let registered_host = self.host.clone();
        callbacks.credentials(move |url, username, allowed| {
            let mut seen = seen.borrow_mut();
            let refuse = |seen: &mut Seen, why: String| {
                let err = git2::Error::new(ErrorCode::Auth, ErrorClass::Callback, why.as_str());
                seen.auth_refused = Some(why);
                Err(err)
            };
            // A redirect (or anything else) that leads elsewhere gets no secret of ours.
            let asking = url_host(url);
            if asking.is_none() || asking != registered_host {
                return refuse(
                    &mut seen,
                    format!(
                        "{} asks for credentials; the node sends them only to the dataset's registered remote",
                        redact_url(url)
                    ),
                );
            }
            if allowed.contains(CredentialType::USERNAME) {
                tries.username += 1;
                if tries.username > 1 {
                    return refuse(&mut seen, "the ssh user name was refused".into());
                }
                return Cred::username(username.unwrap_or("git"));
            }
            if allowed.contains(CredentialType::SSH_KEY) {
                let user = username.unwrap_or("git");
                return match &creds.ssh_key {
                    Some(key) => {
                        tries.ssh_key += 1;
                        if tries.ssh_key > 1 {
                            return refuse(
                                &mut seen,
                                format!("ssh key {} was not accepted for user {user}", key.display()),
                            );
                        }
                        Cred::ssh_key(user, None, key, None)
                    }
                    None => {
                        tries.agent += 1;
                        if tries.agent > 1 {
                            return refuse(
                                &mut seen,
                                "no ssh key is configured and the ssh agent offered none that was accepted".into(),
                            );
                        }
                        Cred::ssh_key_from_agent(user)
                    }
                };
            }
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                // The token goes only to https:// remotes: never in clear over http://,
                // never as an SSH password.
                if !url.starts_with("https://") {
                    return refuse(
                        &mut seen,
                        "the remote asks for a password; the node's token is only sent to https:// remotes".into(),
                    );
                }
                return match &creds.https_token {
                    Some(token) => {
                        tries.token += 1;
                        if tries.token > 1 {
                            return refuse(&mut seen, "the https token was not accepted".into());
                        }
                        Cred::userpass_plaintext(username.unwrap_or("x-access-token"), token)
                    }
                    None => refuse(
                        &mut seen,
                        "the remote asks for a password and no https token is configured".into(),
                    ),
                };
            }
            refuse(
                &mut seen,
                format!("no configured credential fits what the remote accepts ({allowed:?})"),
            )
        });

        let known_hosts = self.creds.known_hosts.clone();
        let port = self.port;
        let seen = self.seen.clone();
        callbacks.certificate_check(move |cert, host| {
            let (Some(hostkey), Some(path)) = (cert.as_hostkey(), &known_hosts) else {
                // x509 certificates are checked by libgit2 against the system's CA store;
                // without a known_hosts file of its own, libgit2 uses ~/.ssh/known_hosts.
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            let verdict = match hostkey.hostkey() {
                Some(key) => known_hosts::check(path, host, port, key),
                None => Err("the remote presented no raw host key to check".to_string()),
            };
            match verdict {
                Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
                Err(reason) => {
                    let err =
                        git2::Error::new(ErrorCode::Certificate, ErrorClass::Ssh, reason.as_str());
                    seen.borrow_mut().host_key = Some(reason);
                    Err(err)
                }
            }
        });
        callbacks
    }

    /// Classifies an error of the connect phase: anything but credentials and host key
    /// means the remote could not be reached.
    pub(crate) fn connect_error(&self, e: git2::Error) -> Error {
        self.classify("connect", e, true)
    }

    /// Classifies an error of the transfer phase.
    pub(crate) fn transfer_error(&self, op: &'static str, e: git2::Error) -> Error {
        self.classify(op, e, false)
    }

    fn classify(&self, op: &'static str, e: git2::Error, connecting: bool) -> Error {
        let seen = self.seen.borrow();
        let detail = self.creds.scrub(e.message());
        if let Some(reason) = &seen.host_key {
            return Error::HostKey {
                host: self.remote.clone(),
                detail: reason.clone(),
            };
        }
        if e.code() == ErrorCode::Certificate {
            return Error::HostKey {
                host: self.remote.clone(),
                detail,
            };
        }
        if e.code() == ErrorCode::Auth || seen.auth_refused.is_some() {
            return Error::Auth {
                remote: self.remote.clone(),
                detail: seen.auth_refused.clone().unwrap_or(detail),
            };
        }
        let network_class = matches!(
            e.class(),
            ErrorClass::Net | ErrorClass::Os | ErrorClass::Ssh | ErrorClass::Http | ErrorClass::Ssl
        );
        if connecting || network_class {
            return Error::Network {
                remote: self.remote.clone(),
                detail,
            };
        }
        Error::Git { op, detail }
    }
}
