//! A clone kept as the daemon keeps it: the git directory outside the worktree, every
//! transfer to the registered remote, nothing named `.git` in the worktree followed.

use mao_datasets::Repo;

use crate::support::{creds, git, Clone, Remote};

const NODE: &str = "node-a";

#[test]
fn the_worktree_has_no_git_directory_and_reopens_from_outside() {
    let remote = Remote::new();
    let clone = Clone::separate(&remote, NODE);
    assert!(!clone.path().join(".git").exists());
    clone.repo.ensure_node_branch(NODE, &creds(NODE)).unwrap();
    let git_dir = clone.repo.git().path().to_path_buf();
    assert!(!git_dir.starts_with(clone.path()), "{}", git_dir.display());

    let reopened = Repo::open_separate(&git_dir, clone.path())
        .unwrap()
        .with_remote(&remote.url());
    assert_eq!(reopened.workdir(), clone.path());
    assert_eq!(reopened.head_branch().unwrap().as_deref(), Some(NODE));
    assert!(reopened.is_clean().unwrap());
}

#[test]
fn a_rewritten_config_cannot_move_a_fetch_or_a_push() {
    let remote = Remote::new();
    let attacker = Remote::new();
    let clone = Clone::separate(&remote, NODE);
    clone.repo.ensure_node_branch(NODE, &creds(NODE)).unwrap();
    // Everything the config could say about where to push points at the attacker.
    let mut config = clone.repo.git().config().unwrap();
    config
        .set_str("remote.origin.url", &attacker.url())
        .unwrap();
    config
        .set_str("remote.origin.pushurl", &attacker.url())
        .unwrap();

    let commit = clone.commit_file(NODE, "control-1.csv", "1\n", "run 1");
    clone.repo.publish(NODE, &creds(NODE)).unwrap();
    assert_eq!(remote.rev(NODE).as_deref(), Some(commit.as_str()));
    assert_eq!(attacker.rev(NODE), None);
    assert_eq!(clone.repo.unpushed(NODE).unwrap(), 0);
    clone.repo.fetch(&creds(NODE)).unwrap();
    assert_eq!(clone.repo.unpushed(NODE).unwrap(), 0);

    // A rewrite rule is refused, not followed.
    for key in ["insteadOf", "pushInsteadOf"] {
        let mut config = clone.repo.git().config().unwrap();
        let rule = format!("url.{}.{key}", attacker.url());
        config.set_str(&rule, &remote.url()).unwrap();
        clone.commit_file(NODE, "control-2.csv", key, key);
        let err = clone.repo.push(NODE, &creds(NODE)).unwrap_err();
        assert!(err.to_string().contains("insteadOf"), "{err}");
        assert_eq!(attacker.rev(NODE), None);
        assert_eq!(remote.rev(NODE).as_deref(), Some(commit.as_str()));
        config.remove(&rule).unwrap();
    }
}

#[test]
fn a_planted_git_directory_is_neither_followed_nor_committed() {
    let remote = Remote::new();
    let other = Remote::new();
    let clone = Clone::separate(&remote, NODE);
    clone.repo.ensure_node_branch(NODE, &creds(NODE)).unwrap();
    // What a tool could write: a .git with a config at the top, a nested repository, and
    // a `.GIT` file.
    clone.write(
        ".git/config",
        "[remote \"origin\"]\n\turl = /tmp/elsewhere\n",
    );
    let nested = clone.path().join("sub");
    std::fs::create_dir_all(&nested).unwrap();
    git(&nested, &["init", "-q"]);
    clone.write("sub/data.csv", "1\n");
    clone.write(
        "deeper/.GIT",
        &format!("gitdir: {}\n", other.path.display()),
    );
    clone.write("control-1.csv", "1\n");

    clone
        .repo
        .commit_all("run 1", &creds(NODE))
        .unwrap()
        .expect("a commit");
    clone.repo.push(NODE, &creds(NODE)).unwrap();
    let pushed = git(&remote.path, &["ls-tree", "-r", "--name-only", NODE]);
    let pushed: Vec<&str> = pushed.lines().collect();
    assert_eq!(pushed, ["README.md", "control-1.csv", "sub/data.csv"]);
    assert!(!clone.path().join(".git").exists());
    assert!(!clone.path().join("sub/.git").exists());
    assert!(!clone.path().join("deeper/.GIT").exists());
}

#[test]
fn an_older_clone_is_separated_in_place() {
    let remote = Remote::new();
    let clone = Clone::of(&remote, NODE);
    clone.repo.ensure_node_branch(NODE, &creds(NODE)).unwrap();
    let head = clone.repo.head_commit().unwrap();
    let workdir = clone.path().to_path_buf();
    let git_dir = workdir.with_extension("git");
    let moved = Repo::separate(&workdir, &git_dir).unwrap();
    assert!(!workdir.join(".git").exists());
    assert_eq!(moved.head_commit().unwrap(), head);
    assert_eq!(moved.head_branch().unwrap().as_deref(), Some(NODE));
    assert!(moved.is_clean().unwrap());
    std::fs::remove_dir_all(&git_dir).unwrap();
}

/// libgit2 (vendored OpenSSL) trusts `pki`'s CA from now on, in this process.
fn trust(pki: &mao_testkit::tls::TestPki) {
    // SAFETY: libgit2 reads the setting when it makes a TLS connection; the tests that
    // set it add a CA of their own and no test removes one.
    unsafe { git2::opts::set_ssl_cert_file(pki.ca()) }.expect("libgit2 takes a CA file");
}

#[test]
fn a_redirect_to_another_host_gets_no_https_token() {
    use mao_testkit::tls::{HttpsServer, TestPki};
    let pki = TestPki::new();
    trust(&pki);
    // The host a redirect leads to: it asks for a password, as a real one would, and
    // keeps what it was sent.
    let elsewhere = HttpsServer::start_with_headers(
        &pki,
        401,
        &[("WWW-Authenticate", "Basic realm=\"git\"")],
        "",
    );
    // The registered remote, on another host name (localhost, not 127.0.0.1): it
    // redirects git's first request there.
    let location = format!(
        "{}/obs.git/info/refs?service=git-upload-pack",
        elsewhere.url
    );
    let registered = HttpsServer::start_with_headers(&pki, 302, &[("Location", &location)], "");
    let url = format!(
        "{}/obs.git",
        registered.url.replace("127.0.0.1", "localhost")
    );
    let token = "tok-redirect-5b1e";
    let mut with_token = creds(NODE);
    with_token.https_token = Some(token.to_owned());
    let dir = tempfile::tempdir().unwrap();

    let Err(e) = mao_datasets::clone_dataset(&url, &dir.path().join("obs"), &with_token) else {
        panic!("the clone went through a redirect to another host");
    };
    // The redirect was followed and the other host asked; it got no credentials.
    assert_eq!(registered.heads().len(), 1, "{:?}", registered.heads());
    let asked = elsewhere.heads();
    assert!(!asked.is_empty(), "the redirect was not followed: {e}");
    for head in &asked {
        assert!(
            !head.to_ascii_lowercase().contains("\nauthorization:"),
            "the token went to another host: {head}"
        );
    }
    // A clean failure: credentials refused, saying why, never the token.
    assert!(matches!(e, mao_datasets::Error::Auth { .. }), "{e:?}");
    let message = e.to_string();
    assert!(
        message.contains("only to the dataset's registered remote"),
        "{message}"
    );
    assert!(!message.contains(token), "{message}");
}
