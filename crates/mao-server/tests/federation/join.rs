//! Sites join a federation with one command each (`federation init`, `federation join`),
//! every site on its own host (network namespace) with its managed etcd member talking TLS
//! to its peers; bad joins change nothing; a site leaves and the rest keep working.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use mao_api::federation::FederationStatus;
use mao_testkit::daemon::{maoctl_with, Credentials, Daemon};
use mao_testkit::netns::Federation;
use mao_testkit::wait_until as eventually;

use crate::daemon_bin;

const API_PORT: u16 = 8443;
const PEER_PORT: u16 = 2380;

/// One site of the test: its address, data dir and credentials.
struct Site {
    index: usize,
    name: String,
    addr: String,
    data_dir: PathBuf,
    admin: String,
}

impl Site {
    fn of(fed: &Federation, index: usize) -> Site {
        let site = fed.site(index);
        Site {
            index,
            name: site.node.clone(),
            addr: site.addr.clone(),
            data_dir: site.data_dir.clone(),
            admin: site.token.clone(),
        }
    }

    fn url(&self) -> String {
        format!("https://{}:{API_PORT}", self.addr)
    }

    /// The flags that describe this site to `init` and `join`.
    fn flags(&self) -> Vec<String> {
        [
            "--node".to_owned(),
            self.name.clone(),
            "--data-dir".to_owned(),
            self.data_dir.display().to_string(),
            "--advertise-url".to_owned(),
            self.url(),
            "--etcd-peer-url".to_owned(),
            format!("https://{}:{PEER_PORT}", self.addr),
        ]
        .to_vec()
    }

    fn credentials(&self) -> Credentials {
        Credentials {
            token: Some(self.admin.clone()),
            ca_cert: Some(self.data_dir.join("federation/ca.pem")),
        }
    }

    fn maoctl(&self, args: &[&str]) -> Output {
        maoctl_with(&self.url(), &self.credentials(), args)
    }

    fn maoctl_ok(&self, args: &[&str]) -> String {
        let out = self.maoctl(args);
        assert!(
            out.status.success(),
            "maoctl {args:?} on {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn status(&self) -> FederationStatus {
        serde_json::from_str(&self.maoctl_ok(&["federation", "status", "-o", "json"]))
            .expect("federation status is JSON")
    }

    fn join_args(&self, peer: &Site, token: &str) -> Vec<String> {
        let mut args = vec![
            "federation".to_owned(),
            "join".to_owned(),
            peer.url(),
            "--token".to_owned(),
            token.to_owned(),
        ];
        args.extend(self.flags());
        args
    }
}

fn join_token(a: &Site, name: &str, fingerprint: &str) -> String {
    let out = std::process::Command::new(daemon_bin())
        .args(["token", "create", name, "--role", "join", "--data-dir"])
        .arg(&a.data_dir)
        .output()
        .expect("token create runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // On a site of a federation, a join token is printed with the CA's hash.
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(token.ends_with(&format!(".{fingerprint}")), "{token}");
    token
}

fn members(a: &Site) -> usize {
    a.status().members.len()
}

fn assert_refused(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

fn healthy(status: &FederationStatus) -> usize {
    status
        .members
        .iter()
        .filter(|m| m.health == "healthy" && !m.is_learner && m.node.is_some())
        .count()
}

fn start(fed: &mut Federation, site: &Site, args: &[String], log: &str) -> Daemon {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fed.spawn_in(site.index, &args, log)
}

#[test]
fn sites_join_with_one_command_each_and_leave_cleanly() {
    let mut fed = Federation::network(&daemon_bin(), 3);
    let (a, b, c) = (Site::of(&fed, 0), Site::of(&fed, 1), Site::of(&fed, 2));

    // Site A starts the federation; the join token is the first line it prints.
    let mut init = vec!["federation".to_owned(), "init".to_owned()];
    init.extend(a.flags());
    // A prefix of its own: the joining sites must take it from A.
    init.extend(["--etcd-prefix".to_owned(), "/fed-test".to_owned()]);
    let daemon_a = start(&mut fed, &a, &init, "init-a.log");
    let token_b = daemon_a
        .preamble
        .first()
        .cloned()
        .expect("init prints a join token");
    let (_, fingerprint) = token_b.rsplit_once('.').expect("SECRET.CA_HASH");
    let fingerprint = fingerprint.to_owned();
    assert_eq!(members(&a), 1);
    // The member's client port takes the federation's certificates only; its health is
    // plain HTTP on the port + 2.
    let probe = |url: &str| fed.exec_in(0, &["curl", "-sk", "--max-time", "5", url]);
    let health = probe("http://127.0.0.1:2381/health");
    assert!(
        String::from_utf8_lossy(&health.stdout).contains("\"health\":\"true\""),
        "{health:?}"
    );
    assert!(!probe("http://127.0.0.1:2379/health").status.success());
    let member_list = |cert: &[&str]| {
        let url = "https://127.0.0.1:2379/v3/cluster/member/list";
        let mut command = vec!["curl", "-sk", "--max-time", "5", "-d", "{}", url];
        command.extend(cert);
        fed.exec_in(0, &command)
    };
    let (cert, key) = (
        a.data_dir.join("federation/node.pem").display().to_string(),
        a.data_dir.join("federation/node.key").display().to_string(),
    );
    let with_cert = member_list(&["--cert", &cert, "--key", &key]);
    assert!(
        String::from_utf8_lossy(&with_cert.stdout).contains("members"),
        "the site's own certificate was refused: {with_cert:?}"
    );
    let no_cert = member_list(&[]);
    assert!(
        !String::from_utf8_lossy(&no_cert.stdout).contains("members"),
        "the client port answered without a certificate: {no_cert:?}"
    );

    // Bad joins: each one line, exit 1 (2 for usage), and nothing added to etcd.
    let wrong = format!("mao_{}.{fingerprint}", "x".repeat(43));
    let out = fed.run_in(b.index, &b.join_args(&a, &wrong));
    assert_refused(&out, 1, "refused the join token");
    // A token whose CA hash is not the federation's: the peer's certificate is not trusted,
    // so the token is never sent (and its use is not taken).
    let (secret, _) = token_b.rsplit_once('.').unwrap();
    let foreign = format!("{secret}.{}", "ab".repeat(32));
    assert_refused(&fed.run_in(b.index, &b.join_args(&a, &foreign)), 1, "TLS");
    let mut http = b.join_args(&a, &token_b);
    http[2] = format!("http://{}:{API_PORT}", a.addr);
    assert_refused(&fed.run_in(b.index, &http), 2, "in the clear");
    let mut nobody = b.join_args(&a, &token_b);
    nobody[2] = format!("https://{}:9", c.addr);
    assert_refused(&fed.run_in(b.index, &nobody), 1, "cannot join through");
    // A peer that is not a mao node: a plain web server on C.
    let mut web = fed.spawn_plain_in(
        c.index,
        &["python3", "-m", "http.server", "9000", "--bind", &c.addr],
    );
    let mut stranger = b.join_args(&a, &token_b);
    stranger[2] = format!("http://{}:9000", c.addr);
    stranger.push("--allow-http".to_owned());
    assert!(
        eventually(Duration::from_secs(10), || {
            let out = fed.run_in(b.index, &stranger);
            String::from_utf8_lossy(&out.stderr).contains("does not look like a mao-orchestrator")
        }),
        "{}",
        String::from_utf8_lossy(&fed.run_in(b.index, &stranger).stderr)
    );
    assert_refused(
        &fed.run_in(b.index, &stranger),
        1,
        "does not look like a mao-orchestrator",
    );
    let _ = web.kill();
    let _ = web.wait();
    let mut plain_peer = b.join_args(&a, &token_b);
    let last = plain_peer.len() - 1;
    plain_peer[last] = format!("http://{}:{PEER_PORT}", b.addr);
    assert_refused(&fed.run_in(b.index, &plain_peer), 2, "must be https://");
    assert_eq!(members(&a), 1, "a refused join added a member");
    assert!(!b.data_dir.join("federation/member.json").exists());

    // B joins with one command: it is added, starts its member, then its daemon.
    let joining = std::time::Instant::now();
    let daemon_b = start(&mut fed, &b, &b.join_args(&a, &token_b), "join-b.log");
    eprintln!(
        "B joined and serves after {} ms",
        joining.elapsed().as_millis()
    );
    assert!(daemon_b.url.starts_with("https://"), "{}", daemon_b.url);
    let config_b = std::fs::read_to_string(b.data_dir.join("mao.toml")).unwrap();
    assert!(
        config_b.contains("etcd_prefix = \"/fed-test\""),
        "{config_b}"
    );
    // The token was single-use.
    let mut again = c.join_args(&a, &token_b);
    again[6] = "site-x".to_owned();
    assert_refused(&fed.run_in(c.index, &again), 1, "refused the join token");
    // A name in use is refused, and gives its token's use back.
    let token_c = join_token(&a, "join-c", &fingerprint);
    let mut taken = c.join_args(&a, &token_c);
    taken[6] = b.name.clone();
    assert_refused(&fed.run_in(c.index, &taken), 1, "is taken");
    assert_eq!(members(&a), 2, "a refused join added a member");

    // C's join dies after A added its member and before C wrote or started anything: the
    // learner A added never starts. C asking again replaces it.
    let mut crashing = vec![
        "env".to_owned(),
        "MAO_FAILPOINTS=join_after_answer=60000".to_owned(),
        daemon_bin().display().to_string(),
    ];
    crashing.extend(c.join_args(&a, &token_c));
    let crashing: Vec<&str> = crashing.iter().map(String::as_str).collect();
    let mut crashed = fed.spawn_plain_in(c.index, &crashing);
    assert!(
        eventually(Duration::from_secs(30), || a
            .status()
            .members
            .iter()
            .any(|m| m.health == "starting" && m.name.is_empty())),
        "the crashing join added no learner: {:#?}",
        a.status()
    );
    let _ = crashed.kill();
    let _ = crashed.wait();
    assert_eq!(members(&a), 3, "B, A and the learner of the crashed join");
    let token_c = join_token(&a, "join-c-2", &fingerprint);
    let joining = std::time::Instant::now();
    let daemon_c = start(&mut fed, &c, &c.join_args(&a, &token_c), "join-c.log");
    eprintln!(
        "C joined and serves after {} ms",
        joining.elapsed().as_millis()
    );

    // All three see each other, and three healthy voting members.
    let up = eventually(Duration::from_secs(60), || {
        let status = a.status();
        healthy(&status) == 3 && status.nodes.len() == 3
    });
    let all = a.status();
    assert!(up, "not 3 healthy members: {all:#?}");
    assert_eq!(all.members.len(), 3);
    assert_eq!(all.members.iter().filter(|m| m.is_leader).count(), 1);
    for on in [&a, &b, &c] {
        let listed = on.maoctl_ok(&["node", "list"]);
        for site in [&a, &b, &c] {
            assert!(listed.contains(&site.name), "{} not in {listed}", site.name);
        }
    }
    let table = a.maoctl_ok(&["federation", "status"]);
    assert!(table.contains("3 members, 3 healthy"), "{table}");

    // A tool registered on C is visible on A.
    let tool = r#"{"name":"joined","author":"c","image":"mao/demo-tool:latest","data_repo":"https://g/d.git","code_repo":"https://g/c.git","artefact":"demo"}"#;
    let file = c.data_dir.join("tool.json");
    std::fs::write(&file, tool).unwrap();
    c.maoctl_ok(&["tool", "add", "-f", &file.display().to_string()]);
    assert!(
        eventually(Duration::from_secs(10), || {
            a.maoctl_ok(&["tool", "list"]).contains("joined")
        }),
        "the tool registered on C does not show on A"
    );

    // C leaves: its daemon stops (and with it its member), `federation leave` removes it.
    let mut daemon_c = daemon_c;
    assert!(daemon_c.terminate().success());
    let leave = [
        "federation".to_owned(),
        "leave".to_owned(),
        "--data-dir".to_owned(),
        c.data_dir.display().to_string(),
    ];
    let out = fed.run_in(c.index, &leave);
    assert!(
        out.status.success(),
        "leave: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = a.status();
    assert_eq!(status.members.len(), 2, "{status:#?}");
    assert!(status.members.iter().all(|m| m.name != c.name));
    // The two left keep working: a write on A shows on B.
    let file = a.data_dir.join("tool2.json");
    std::fs::write(&file, tool.replace("joined", "after-leave")).unwrap();
    a.maoctl_ok(&["tool", "add", "-f", &file.display().to_string()]);
    assert!(
        eventually(Duration::from_secs(10), || {
            b.maoctl_ok(&["tool", "list"]).contains("after-leave")
        }),
        "the tool registered on A after C left does not show on B"
    );

    // B goes down: the two members left have no quorum, so a join is refused and adds
    // nothing; B back, C joins again with the token the refusal gave back.
    let mut daemon_b = daemon_b;
    daemon_b.kill();
    let token_again = join_token(&a, "join-again", &fingerprint);
    let out = fed.run_in(c.index, &c.join_args(&a, &token_again));
    assert_refused(&out, 1, "quorum");
    let config_b = b.data_dir.join("mao.toml").display().to_string();
    let _daemon_b = start(
        &mut fed,
        &b,
        &["--config".to_owned(), config_b],
        "b-again.log",
    );
    assert!(
        eventually(Duration::from_secs(60), || healthy(&a.status()) == 2),
        "B did not come back: {:#?}",
        a.status()
    );
    assert_eq!(members(&a), 2, "the refused join added a member");
    // This time C trusts A by the CA file as well; the token's hash is still checked.
    let mut rejoin = c.join_args(&a, &token_again);
    rejoin.extend([
        "--peer-ca".to_owned(),
        a.data_dir.join("federation/ca.pem").display().to_string(),
    ]);
    let _daemon_c = start(&mut fed, &c, &rejoin, "join-c-again.log");
    assert!(
        eventually(Duration::from_secs(60), || healthy(&a.status()) == 3),
        "C did not join again: {:#?}",
        a.status()
    );

    // C's member is removed from A with maoctl. While C's node is live and its member
    // healthy, that takes --force; C's etcd, told it was removed, is not started again.
    let mut daemon_c = _daemon_c;
    let c_id = a
        .status()
        .members
        .iter()
        .find(|m| m.name == c.name)
        .map(|m| m.id.clone())
        .expect("C's member");
    let out = a.maoctl(&["federation", "remove", &c_id]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--force"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = a.maoctl(&["federation", "remove", "not-hex"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a member id"));
    a.maoctl_ok(&["federation", "remove", &c_id, "--force"]);
    assert_eq!(members(&a), 2);
    assert!(
        eventually(Duration::from_secs(30), || daemon_c
            .log_text()
            .contains("it is not started again")),
        "C's supervisor did not see its member removed: {}\n{}",
        daemon_c.log_text(),
        std::fs::read_to_string(c.data_dir.join("etcd.log"))
            .unwrap_or_default()
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .join("\n")
    );
    daemon_c.kill();
    drop(daemon_a);
}
