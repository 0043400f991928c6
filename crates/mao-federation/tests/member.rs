//! A member spec on disk: what the daemon finds again when it restarts.

use mao_federation::{InitialState, MemberSpec, PeerTls};

#[test]
fn a_spec_survives_save_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("member.json");
    assert_eq!(MemberSpec::load(&path).unwrap(), None);
    let spec = MemberSpec {
        name: "site-a".into(),
        client_url: "http://127.0.0.1:2379".into(),
        peer_url: "https://10.0.0.5:2380".into(),
        initial_cluster: "site-a=https://10.0.0.5:2380".into(),
        initial_state: InitialState::Existing,
        peer_tls: Some(PeerTls {
            cert: "/etc/mao/site.pem".into(),
            key: "/etc/mao/site.key".into(),
            ca: "/etc/mao/ca.pem".into(),
        }),
    };
    spec.save(&path).unwrap();
    assert_eq!(MemberSpec::load(&path).unwrap(), Some(spec));
    std::fs::write(&path, "{").unwrap();
    assert!(MemberSpec::load(&path).is_err());
}
