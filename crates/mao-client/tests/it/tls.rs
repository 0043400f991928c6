//! `https://` endpoints against a real TLS server with a certificate made in the test: the
//! CA given is trusted and nothing else; the token and the marks of a state-changing
//! request are sent; a 401 is the server's message.

use mao_client::{Client, ClientOptions, Error, Token};
use mao_testkit::tls::{HttpsServer, TestPki};

const EMPTY_LIST: &str = r#"{"items":[]}"#;

fn client(url: &str, pki: Option<&TestPki>, token: Option<&str>) -> Client {
    Client::with_options(
        url,
        ClientOptions {
            token: token.map(|t| Token::new(t).unwrap()),
            ca_cert_pem: pki.map(|pki| pki.ca_pem.clone().into_bytes()),
            pinned_ca_sha256: None,
        },
    )
    .unwrap()
}

#[test]
fn the_given_ca_is_trusted_and_the_token_is_sent() {
    let pki = TestPki::new();
    let server = HttpsServer::start(&pki, 200, EMPTY_LIST);
    let token = "tok-3f9a-secret";
    let client = client(&server.url, Some(&pki), Some(token));
    assert!(client.list_tools().unwrap().is_empty());
    let heads = server.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let head = heads[0].to_lowercase();
    assert!(head.starts_with("get /api/v1/tools"), "{head}");
    assert!(
        head.contains(&format!("authorization: bearer {token}")),
        "{head}"
    );
    assert!(
        !head.contains("x-mao-client"),
        "a GET is not marked: {head}"
    );
    assert!(
        !format!("{client:?}").contains(token),
        "Debug shows the token"
    );
}

#[test]
fn state_changing_requests_carry_json_and_the_client_mark_even_without_a_body() {
    let pki = TestPki::new();
    // Whatever the answer, the request is what counts here.
    let server = HttpsServer::start(&pki, 200, "{}");
    let client = client(&server.url, Some(&pki), None);
    let _ = client.init_pipeline("weather");
    let _ = client.delete_tool("demo");
    let heads = server.heads();
    assert_eq!(heads.len(), 2, "{heads:?}");
    for head in heads {
        let head = head.to_lowercase();
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains("x-mao-client: maoctl"), "{head}");
        assert!(
            !head.contains("authorization"),
            "no token, no header: {head}"
        );
    }
}

#[test]
fn an_untrusted_server_is_refused_in_one_line() {
    let pki = TestPki::new();
    let server = HttpsServer::start(&pki, 200, EMPTY_LIST);
    // Neither the bundled public roots nor another test CA signed this server's certificate.
    for client in [
        client(&server.url, None, Some("tok")),
        client(&server.url, Some(&TestPki::new()), Some("tok")),
    ] {
        let e = client.list_tools().unwrap_err();
        assert!(matches!(e, Error::Tls { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("not signed by a CA this client trusts"),
            "{text}"
        );
        assert!(text.contains("--ca-cert"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }
    assert!(server.heads().is_empty(), "no request went through");
}

#[test]
fn a_certificate_for_another_host_is_refused() {
    let pki = TestPki::for_host("mao.example.org");
    let server = HttpsServer::start(&pki, 200, EMPTY_LIST);
    let e = client(&server.url, Some(&pki), None)
        .list_tools()
        .unwrap_err();
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");
    assert!(
        e.to_string().contains("not valid for this host name"),
        "{e}"
    );
}

#[test]
fn unauthorized_and_forbidden_are_the_servers_message() {
    let pki = TestPki::new();
    let body =
        r#"{"error":{"code":"unauthorized","message":"a bearer token is needed: pass --token"}}"#;
    let server = HttpsServer::start(&pki, 401, body);
    let e = client(&server.url, Some(&pki), None)
        .list_tools()
        .unwrap_err();
    assert!(e.is_unauthorized(), "{e:?}");
    assert_eq!(e.to_string(), "a bearer token is needed: pass --token");
    let body = r#"{"error":{"code":"forbidden","message":"this needs the operate role"}}"#;
    let server = HttpsServer::start(&pki, 403, body);
    let e = client(&server.url, Some(&pki), Some("read-only"))
        .delete_tool("demo")
        .unwrap_err();
    assert!(e.is_forbidden(), "{e:?}");
    assert_eq!(e.to_string(), "this needs the operate role");
}

#[test]
fn bad_tokens_and_ca_files_are_refused_before_any_request() {
    for bad in ["", "  \n", "two words", "tab\there"] {
        let e = Token::new(bad).unwrap_err();
        assert!(matches!(e, Error::InvalidSettings(_)), "{bad:?}: {e:?}");
        assert!(!e.to_string().contains("words"), "{e}");
    }
    assert_eq!(Token::new("abc\n").unwrap().expose(), "abc");
    let e = Client::with_options(
        "https://127.0.0.1:1",
        ClientOptions {
            token: None,
            ca_cert_pem: Some(b"not a certificate".to_vec()),
            pinned_ca_sha256: None,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("holds no certificate"), "{e}");
}
