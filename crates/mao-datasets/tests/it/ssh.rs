//! The dataset operations over SSH, against a real `sshd` each test starts on a loopback
//! port, with keys made by `ssh-keygen`. Needs the `openssh-server` and `openssh-client`
//! packages (scripts/test.sh installs them); without them the tests fail and say so.

use crate::support::{git, Remote};
use mao_datasets::{clone_dataset, Credentials, Error, MergeOutcome};

use mao_testkit::sshd::SshServer;

/// The node's credentials for `server`: its authorised key and the host's known key.
fn node_creds(server: &SshServer, node: &str) -> Credentials {
    Credentials {
        ssh_key: Some(server.client_key.clone()),
        known_hosts: Some(server.known_hosts.clone()),
        ..crate::support::creds(node)
    }
}

#[test]
fn clone_node_branch_commit_push_and_merge_over_ssh() {
    let server = SshServer::start();
    let remote = Remote::new();
    let creds = node_creds(&server, "node-a");
    let dir = tempfile::tempdir().unwrap();

    let repo = clone_dataset(&server.url(&remote.path), &dir.path().join("clone"), &creds)
        .unwrap_or_else(|e| panic!("clone over ssh: {e}\nsshd log:\n{}", server.log()));
    let setup = repo.ensure_node_branch("node-a", &creds).unwrap();
    assert!(setup.created_from_default && setup.pushed);
    assert!(!repo.ensure_node_branch("node-a", &creds).unwrap().changed());

    for run in 1..=3 {
        std::fs::write(repo.workdir().join("control-1.csv"), format!("{run}\n")).unwrap();
        repo.commit_all(&format!("run {run}"), &creds)
            .unwrap()
            .unwrap();
        repo.push("node-a", &creds).unwrap();
    }
    assert_eq!(
        remote.subjects("node-a"),
        ["run 3", "run 2", "run 1", "initial commit"]
    );
    let merged = repo.merge_into_ground_truth("node-a", &creds).unwrap();
    assert!(matches!(merged, MergeOutcome::Created { .. }), "{merged:?}");
    assert_eq!(remote.rev("ground-truth"), remote.rev("node-a"));
    assert!(
        server.log().contains("Accepted publickey"),
        "{}",
        server.log()
    );
}

#[test]
fn a_key_the_server_does_not_know_is_an_auth_error() {
    let server = SshServer::start();
    let remote = Remote::new();
    let wrong = Credentials {
        ssh_key: Some(server.wrong_key.clone()),
        ..node_creds(&server, "node-a")
    };
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("clone");
    let err = clone_dataset(&server.url(&remote.path), &dest, &wrong).unwrap_err();
    assert!(
        matches!(err, Error::Auth { .. }),
        "{err:?}\nsshd log:\n{}",
        server.log()
    );
    assert!(!err.is_retryable());
    assert!(!dest.exists());

    // A clone made with the right key, pushing with the wrong one.
    let repo = clone_dataset(
        &server.url(&remote.path),
        &dest,
        &node_creds(&server, "node-a"),
    )
    .unwrap();
    repo.ensure_node_branch("node-a", &node_creds(&server, "node-a"))
        .unwrap();
    std::fs::write(repo.workdir().join("x"), "x").unwrap();
    repo.commit_all("run", &wrong).unwrap().unwrap();
    let err = repo.push("node-a", &wrong).unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    assert!(err.to_string().contains("not accepted"), "{err}");
    assert_eq!(repo.unpushed("node-a").unwrap(), 1);
}

#[test]
fn a_missing_key_file_is_a_configuration_error() {
    let server = SshServer::start();
    let remote = Remote::new();
    let creds = Credentials {
        ssh_key: Some(server.dir.path().join("no-such-key")),
        ..node_creds(&server, "node-a")
    };
    let dir = tempfile::tempdir().unwrap();
    let err = clone_dataset(&server.url(&remote.path), &dir.path().join("c"), &creds).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
}

#[test]
fn an_unknown_or_changed_host_key_is_refused() {
    let server = SshServer::start();
    let remote = Remote::new();
    let dir = tempfile::tempdir().unwrap();

    // known_hosts lists another key for this host and port.
    let other = std::fs::read_to_string(server.wrong_key.with_extension("pub")).unwrap();
    let changed = dir.path().join("changed_hosts");
    std::fs::write(&changed, format!("[127.0.0.1]:{} {other}", server.port)).unwrap();
    let creds = Credentials {
        known_hosts: Some(changed),
        ..node_creds(&server, "node-a")
    };
    let err = clone_dataset(&server.url(&remote.path), &dir.path().join("a"), &creds).unwrap_err();
    assert!(matches!(err, Error::HostKey { .. }), "{err:?}");
    assert!(err.to_string().contains("differs"), "{err}");

    // known_hosts does not list the host at all.
    let empty = dir.path().join("empty_hosts");
    std::fs::write(&empty, "").unwrap();
    let creds = Credentials {
        known_hosts: Some(empty),
        ..node_creds(&server, "node-a")
    };
    let err = clone_dataset(&server.url(&remote.path), &dir.path().join("b"), &creds).unwrap_err();
    assert!(matches!(err, Error::HostKey { .. }), "{err:?}");
    assert!(err.to_string().contains("not listed"), "{err}");
}

#[test]
fn a_push_the_remote_refuses_is_rejected_with_its_reason() {
    let server = SshServer::start();
    let remote = Remote::new();
    let creds = node_creds(&server, "node-a");
    let dir = tempfile::tempdir().unwrap();
    let repo = clone_dataset(&server.url(&remote.path), &dir.path().join("c"), &creds).unwrap();
    repo.ensure_node_branch("node-a", &creds).unwrap();

    // The push itself succeeds at the protocol level; only the reference's status says no.
    let hook = remote.path.join("hooks/update");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'frozen for the audit' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();

    std::fs::write(repo.workdir().join("x"), "x").unwrap();
    repo.commit_all("run", &creds).unwrap().unwrap();
    let err = repo.push("node-a", &creds).unwrap_err();
    let Error::Rejected { reference, reason } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(reference, "refs/heads/node-a");
    assert!(reason.contains("hook declined"), "{reason}");
    assert_eq!(repo.unpushed("node-a").unwrap(), 1);
    assert_ne!(
        remote.rev("node-a"),
        repo.head_commit().unwrap().map(|c| c.to_string())
    );
}

#[test]
fn a_server_that_went_away_is_a_network_error() {
    let mut server = SshServer::start();
    let remote = Remote::new();
    let creds = node_creds(&server, "node-a");
    let dir = tempfile::tempdir().unwrap();
    let repo = clone_dataset(&server.url(&remote.path), &dir.path().join("c"), &creds).unwrap();
    repo.ensure_node_branch("node-a", &creds).unwrap();
    std::fs::write(repo.workdir().join("x"), "x").unwrap();
    repo.commit_all("run", &creds).unwrap().unwrap();

    server.stop();
    let err = repo.push("node-a", &creds).unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    assert_eq!(repo.unpushed("node-a").unwrap(), 1);
    // Secrets are not in the message, the key path may be.
    assert!(!format!("{err} {err:?}").contains("PRIVATE KEY"));
    let _ = git(&remote.path, &["rev-parse", "node-a"]);
}
