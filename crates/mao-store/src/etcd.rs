//! The etcd backend: etcd's v3 API through `etcd-client`.
//!
//! The client connects lazily and reconnects by itself: each endpoint is a tonic
//! connection that dials on first use and dials again after the connection breaks, so
//! while etcd is down every request fails fast with [`StoreError::Unavailable`] and the
//! same [`EtcdStore`] works again once etcd is back.
//!
//! With TLS ([`EtcdTls`]) the endpoints are `https://`, checked against the given CA, and a
//! client certificate is presented when one is given. With a user ([`EtcdUser`]) the store
//! asks etcd for an auth token on first use and again whenever etcd rejects the one it
//! holds: etcd's simple tokens expire (`--auth-token-ttl`, 300 s by default) and do not
//! survive an etcd restart, so a token is never assumed to live as long as the store.

use std::collections::VecDeque;
use std::error::Error as _;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, Error as EtcdError, EventType,
    GetOptions, Identity, PutOptions, TlsOptions, Txn, TxnOp, TxnOpResponse, TxnResponse,
    WatchOptions, Watcher,
};
use futures::StreamExt;
use tracing::{debug, warn};

mod cluster;

use crate::{
    prefix_end, KeyValue, LeaseId, ListOptions, Page, Result, Revision, Store, StoreError,
    WatchEvent, WatchStream,
};

/// Deadline of one request once a connection is up (tonic's per-request timeout).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Deadline of dialing one endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Outer bound of a whole call, all its attempts on all members: tonic's timeout only
/// covers a request that got a connection and stops at the response headers, which
/// leaves streaming calls open.
const CALL_TIMEOUT: Duration = Duration::from_secs(6);
/// The pause before a call tries the members again while they elect a leader; it doubles
/// each round, up to a second, within [`CALL_TIMEOUT`].
const ROUND_PAUSE: Duration = Duration::from_millis(100);
/// How often a member that is down is asked whether it is back.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// HTTP/2 pings find a dead peer on long-lived streams (watches) that TCP would not notice.
/// etcd refuses pings more often than every 5 s (`--grpc-keepalive-min-time`).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);

// gRPC status codes (fixed by the gRPC spec); tonic is not a direct dependency of this crate.
const GRPC_CANCELLED: i32 = 1;
const GRPC_UNKNOWN: i32 = 2;
const GRPC_DEADLINE_EXCEEDED: i32 = 4;
const GRPC_UNAVAILABLE: i32 = 14;
const GRPC_UNAUTHENTICATED: i32 = 16;

/// How to reach etcd: its endpoints, TLS, and the user to authenticate as.
#[derive(Clone, Debug, Default)]
pub struct EtcdConfig {
    /// Client URLs, all `http://` or (with [`EtcdConfig::tls`]) all `https://`.
    pub endpoints: Vec<String>,
    pub tls: Option<EtcdTls>,
    pub user: Option<EtcdUser>,
}

/// TLS towards etcd: the CA its server certificate is checked against, and the client
/// certificate to present (etcd's `--client-cert-auth`). `Debug` shows no key.
#[derive(Clone, Default)]
pub struct EtcdTls {
    /// The CA certificate(s), PEM.
    pub ca_pem: Vec<u8>,
    /// The client certificate chain and its private key, PEM.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for EtcdTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdTls")
            .field("ca_pem", &format_args!("<{} bytes>", self.ca_pem.len()))
            .field(
                "client",
                &self.client.as_ref().map(|_| "<certificate and key>"),
            )
            .finish()
    }
}

/// An etcd user and its password; the password is never shown (not even by `Debug`).
#[derive(Clone)]
pub struct EtcdUser {
    pub name: String,
    password: String,
}

impl EtcdUser {
    /// The user `name` with `password`.
    pub fn new(name: impl Into<String>, password: impl Into<String>) -> EtcdUser {
        EtcdUser {
            name: name.into(),
            password: password.into(),
        }
    }
}

impl std::fmt::Debug for EtcdUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdUser")
            .field("name", &self.name)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// One member of the cluster: a client of its endpoint alone, whether it answered last
/// time, and (with a user) the generation of the token this client holds.
struct Member {
    url: String,
    client: Client,
    health: std::sync::Mutex<Health>,
    /// How many tokens this client obtained; 0 before the first. A call remembers the
    /// generation it ran with, and renews only if no other call renewed since. The mutex
    /// is held while a token is requested, so concurrent calls that all found the token
    /// rejected ask etcd for one new token, not one each.
    token_generation: tokio::sync::Mutex<u64>,
}

#[derive(Clone, Copy)]
struct Health {
    /// The member answered its last request or probe.
    up: bool,
    /// When a probe of a member that is down was last started.
    probed: Option<Instant>,
}

/// Why one attempt of a call failed.
enum Failure {
    Etcd(EtcdError),
    TimedOut,
    /// Mapped already (a failed authentication); not retried.
    Final(StoreError),
}

/// What a failure says about the request and the member it went to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    /// No connection was made (refused, no route, TLS handshake): the request was never
    /// sent. Safe to send to another member; the member is down.
    NotSent,
    /// The member answered that it did not take the request (it has no leader, or raft
    /// dropped the proposal): safe to send again; the cluster is electing a leader.
    NotTaken,
    /// The request was sent and its outcome is unknown (the connection broke, no answer
    /// in time, or etcd's own "request timed out"): a write may have been applied.
    Ambiguous,
    /// An answer about the request itself (a compare that failed, a missing lease, a
    /// rejected token or permission): sending it elsewhere changes nothing.
    Final,
}

/// What a failed request was about, to fill in the error it maps to.
#[derive(Clone, Copy, Default)]
struct Context {
    lease: Option<LeaseId>,
    revision: Option<Revision>,
}

impl Context {
    fn lease(lease: Option<LeaseId>) -> Context {
        Context {
            lease,
            revision: None,
        }
    }

    fn revision(revision: Option<Revision>) -> Context {
        Context {
            lease: None,
            revision,
        }
    }
}

/// The answer of a call, and whether an earlier attempt of it had an unknown outcome: a
/// guarded write then reads its own effect in the answer (see [`EtcdStore::run`]).
struct Answer<T> {
    value: T,
    after_ambiguous: bool,
}

/// The federation store: an etcd cluster reached through its v3 gRPC API.
///
/// Each endpoint has a client of its own, not one client balanced over all of them: a
/// balanced channel sends a share of the requests to a member that is down, and they fail.
/// A call goes to the member that answered last; when a member does not answer, the call
/// goes on to the next one, and the member is not chosen again until a probe finds it up.
#[derive(Clone)]
pub struct EtcdStore {
    members: Arc<[Arc<Member>]>,
    /// The member that answered last: calls go there first.
    preferred: Arc<AtomicUsize>,
    /// The endpoints, comma-separated, for error messages.
    endpoints: Arc<str>,
    user: Option<Arc<EtcdUser>>,
    /// What to suggest when etcd closes a TLS connection right away.
    tls_hint: Option<&'static str>,
}

impl EtcdStore {
    /// Creates a client for `endpoints` (plain `http://`, no user); it does not dial yet,
    /// so it succeeds while etcd is down.
    pub async fn connect(endpoints: &[String]) -> Result<EtcdStore> {
        EtcdStore::connect_with(EtcdConfig {
            endpoints: endpoints.to_vec(),
            ..EtcdConfig::default()
        })
        .await
    }

    /// Creates a client as `config` says. Like [`EtcdStore::connect`] it neither dials nor
    /// authenticates yet: both happen on first use, so it succeeds while etcd is down.
    pub async fn connect_with(config: EtcdConfig) -> Result<EtcdStore> {
        let endpoints = &config.endpoints;
        if endpoints.is_empty() {
            return Err(StoreError::Invalid("no etcd endpoints given".into()));
        }
        let secure = endpoints
            .iter()
            .filter(|e| e.starts_with("https://"))
            .count();
        match (&config.tls, secure) {
            (Some(_), n) if n != endpoints.len() => {
                return Err(StoreError::Invalid(
                    "with TLS every etcd endpoint must be an https:// URL".into(),
                ))
            }
            (None, n) if n > 0 => return Err(StoreError::Invalid(
                "https:// etcd endpoints need TLS settings: the CA that signed etcd's certificate"
                    .into(),
            )),
            _ => {}
        }
        let mut options = ConnectOptions::new()
            .with_timeout(REQUEST_TIMEOUT)
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_keep_alive(KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT)
            // etcd does not permit pings without an open stream and answers them with
            // GOAWAY ("too_many_pings"), which would break the connection every few pings.
            .with_keep_alive_while_idle(false)
            // A member without a leader (cut off from the others, or while they elect one)
            // refuses requests at once ("etcdserver: no leader") and cancels its watches,
            // instead of holding them until a timeout: the call goes on to another member.
            .with_require_leader(true);
        if let Some(tls) = &config.tls {
            let mut tls_options =
                TlsOptions::new().ca_certificate(Certificate::from_pem(&tls.ca_pem));
            if let Some((cert, key)) = &tls.client {
                tls_options = tls_options.identity(Identity::from_pem(cert, key));
            }
            options = options.with_tls(tls_options);
        }
        // The user is not handed to etcd-client: it would authenticate in `connect` (so
        // etcd would have to be up) and never again (so the store would break when the
        // token expires). `token` does both lazily.
        let joined: Arc<str> = endpoints.join(",").into();
        let mut members = Vec::with_capacity(endpoints.len());
        for url in endpoints {
            let client = Client::connect([url], Some(options.clone()))
                .await
                .map_err(|e| map_error(&joined, e, Context::default()))?;
            members.push(Arc::new(Member {
                url: url.clone(),
                client,
                health: std::sync::Mutex::new(Health {
                    up: true,
                    probed: None,
                }),
                token_generation: tokio::sync::Mutex::new(0),
            }));
        }
        let tls_hint = config.tls.as_ref().map(|tls| match tls.client {
            None => "etcd may require a client certificate: set etcd_cert and etcd_key",
            Some(_) => "etcd may not accept the client certificate of etcd_cert: is it signed by etcd's --trusted-ca-file?",
        });
        Ok(EtcdStore {
            members: members.into(),
            preferred: Arc::new(AtomicUsize::new(0)),
            endpoints: joined,
            tls_hint,
            user: config.user.map(Arc::new),
        })
    }

    /// The endpoints this store talks to, comma-separated.
    pub fn endpoints(&self) -> &str {
        &self.endpoints
    }

    /// Runs one etcd call and maps its error; see [`EtcdStore::run_resolving`]. For
    /// requests that may be sent again whatever became of an earlier attempt: reads,
    /// and writes whose repetition leaves the same state.
    async fn run<T, F, C>(&self, ctx: Context, call: C) -> Result<T>
    where
        C: Fn(&Client) -> F,
        F: Future<Output = std::result::Result<T, EtcdError>>,
    {
        self.run_resolving(ctx, call).await.map(|a| a.value)
    }

    /// Runs one etcd call on the members in turn until one answers, within [`CALL_TIMEOUT`].
    ///
    /// Which failures are sent again, and why that is safe:
    /// * no connection was made, or the member said it did not take the request (no
    ///   leader, proposal dropped): the request had no effect, so any request may go to
    ///   the next member;
    /// * the outcome is unknown (the connection broke after the request was sent, no
    ///   answer in time, etcd's "request timed out"): a write may have been applied. Every
    ///   request of this store may still be sent again, because none doubles its effect:
    ///   reads have none; a plain put writes the same value again (watchers may see the
    ///   same value put twice); lease grants at worst leave an unused lease that expires;
    ///   keep-alives and revokes repeat harmlessly; guarded writes (create-if-absent,
    ///   compare-and-swap, compare-and-delete) cannot apply twice, because their compare
    ///   fails once the first one applied. What the repeat answers may be wrong, though
    ///   ("already exists" for the key this very call created), so the answer says
    ///   [`Answer::after_ambiguous`] and the guarded writes read their own effect in it.
    ///
    /// Each member is tried at most once per round, the one that answered last first and
    /// members that are down last. When every member refused the connection etcd is down
    /// and the call fails at once; when some member was electing a leader (or did not
    /// answer in time), another round follows after a short pause, so that a write
    /// during a leader election waits for the new leader instead of failing. With a user,
    /// the call runs with a token, and once more with a new one when etcd rejected it.
    async fn run_resolving<T, F, C>(&self, ctx: Context, call: C) -> Result<Answer<T>>
    where
        C: Fn(&Client) -> F,
        F: Future<Output = std::result::Result<T, EtcdError>>,
    {
        let deadline = Instant::now() + CALL_TIMEOUT;
        let mut after_ambiguous = false;
        let mut pause = ROUND_PAUSE;
        loop {
            let mut electing = false;
            let mut last = None;
            for index in self.order() {
                let member = &self.members[index];
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match self.attempt_with_token(member, left, &call).await {
                    Ok(value) => {
                        self.answered(index);
                        return Ok(Answer {
                            value,
                            after_ambiguous,
                        });
                    }
                    Err(failure) => {
                        let class = classify(&failure);
                        debug!(endpoint = %member.url, ?class, "etcd request failed");
                        match class {
                            Class::Final => return Err(self.failed(failure, ctx)),
                            Class::NotSent => {}
                            Class::NotTaken => electing = true,
                            Class::Ambiguous => {
                                after_ambiguous = true;
                                // A member that answers nothing in time is stuck, cut
                                // off, or waiting for a leader.
                                electing |= is_timeout(&failure);
                            }
                        }
                        self.mark_down(index);
                        last = Some(failure);
                    }
                }
            }
            let Some(last) = last else {
                return Err(self.timed_out());
            };
            if !electing || Instant::now() + pause >= deadline {
                return Err(self.failed(last, ctx));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// The members in the order a call tries them: the one that answered last, the others
    /// that are up, then those that are down (their probes are started here).
    fn order(&self) -> Vec<usize> {
        let count = self.members.len();
        let first = self.preferred.load(Ordering::Relaxed) % count;
        let (mut up, mut down) = (Vec::new(), Vec::new());
        for index in (0..count).map(|i| (first + i) % count) {
            let member = &self.members[index];
            let health = *member.health.lock().expect("health lock");
            if health.up {
                up.push(index);
            } else {
                down.push(index);
                if health
                    .probed
                    .is_none_or(|at| at.elapsed() >= PROBE_INTERVAL)
                {
                    self.probe(index);
                }
            }
        }
        up.extend(down);
        up
    }

    fn answered(&self, index: usize) {
        self.members[index].health.lock().expect("health lock").up = true;
        self.preferred.store(index, Ordering::Relaxed);
    }

    fn mark_down(&self, index: usize) {
        let member = &self.members[index];
        let mut health = member.health.lock().expect("health lock");
        if health.up {
            warn!(endpoint = %member.url, "etcd member does not answer; using the others until it does");
            health.up = false;
            // The first probe waits a moment: the member just failed.
            health.probed = Some(Instant::now());
        }
    }

    /// Asks a member that is down for its status in the background: it is up again once
    /// it answers and knows a leader.
    fn probe(&self, index: usize) {
        let member = self.members[index].clone();
        member.health.lock().expect("health lock").probed = Some(Instant::now());
        tokio::spawn(async move {
            let mut client = member.client.maintenance_client();
            let up = match tokio::time::timeout(PROBE_TIMEOUT, client.status()).await {
                Ok(Ok(status)) => status.leader() != 0,
                // An answer about permissions is an answer: the member is there.
                Ok(Err(e)) => classify(&Failure::Etcd(e)) == Class::Final,
                Err(_) => false,
            };
            if up {
                debug!(endpoint = %member.url, "etcd member answers again");
                member.health.lock().expect("health lock").up = true;
            }
        });
    }

    /// One attempt on one member; with a user, with a token, and once more with a new one
    /// when etcd rejected the token.
    async fn attempt_with_token<T, F, C>(
        &self,
        member: &Member,
        left: Duration,
        call: &C,
    ) -> std::result::Result<T, Failure>
    where
        C: Fn(&Client) -> F,
        F: Future<Output = std::result::Result<T, EtcdError>>,
    {
        let Some(user) = &self.user else {
            return attempt(left, call(&member.client)).await;
        };
        let generation = self.token(member, user, None, left).await?;
        match attempt(left, call(&member.client)).await {
            Err(Failure::Etcd(e)) if is_token_rejected(&e) => {
                debug!(endpoint = %member.url, "etcd rejected the auth token; asking for a new one");
                self.token(member, user, Some(generation), left).await?;
                attempt(left, call(&member.client)).await
            }
            result => result,
        }
    }

    fn failed(&self, failure: Failure, ctx: Context) -> StoreError {
        match failure {
            Failure::Etcd(e) => self.with_tls_hint(map_error(&self.endpoints, e, ctx)),
            Failure::TimedOut => self.timed_out(),
            Failure::Final(e) => e,
        }
    }

    /// etcd closes a TLS connection whose client certificate it does not accept (or that
    /// has none) without an alert that reaches this client's error: say what may be wrong.
    /// Depending on timing the closed connection is seen as "connection closed", a broken
    /// pipe or a reset.
    fn with_tls_hint(&self, e: StoreError) -> StoreError {
        match (self.tls_hint, e) {
            (Some(hint), StoreError::Unavailable(message))
                if ["connection closed", "broken pipe", "reset by peer"]
                    .iter()
                    .any(|seen| message.to_ascii_lowercase().contains(seen)) =>
            {
                StoreError::Unavailable(format!("{message} ({hint})"))
            }
            (_, e) => e,
        }
    }

    fn timed_out(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "etcd at {} did not answer within {}s",
            self.endpoints,
            CALL_TIMEOUT.as_secs()
        ))
    }

    /// Makes sure the member's client holds a token and returns its generation: obtains
    /// the first one, or with `rejected` (the generation etcd refused) a new one unless
    /// another call already replaced it.
    async fn token(
        &self,
        member: &Member,
        user: &EtcdUser,
        rejected: Option<u64>,
        left: Duration,
    ) -> std::result::Result<u64, Failure> {
        let mut generation = member.token_generation.lock().await;
        let needed = match rejected {
            None => *generation == 0,
            Some(rejected) => *generation == rejected,
        };
        if !needed {
            return Ok(*generation);
        }
        let mut client = member.client.auth_client();
        // A stale token would ride along on the authenticate request itself.
        client.remove_client_auth();
        let login = client.set_client_auth(user.name.clone(), user.password.clone());
        match attempt(left, login).await {
            Ok(()) => {}
            Err(Failure::Etcd(e)) if e.to_string().contains("authentication is not enabled") => {
                warn!(endpoints = %self.endpoints, user = %user.name,
                    "etcd_user is set but etcd has authentication off; going on without a token");
            }
            // A member that cannot be reached is the next member's business.
            Err(Failure::Etcd(e)) if classify_etcd(&e) != Class::Final => {
                return Err(Failure::Etcd(e))
            }
            Err(Failure::Etcd(e)) => return Err(Failure::Final(self.login_failed(&user.name, e))),
            Err(other) => return Err(other),
        }
        *generation += 1;
        Ok(*generation)
    }

    /// The error of a failed authentication, in words an operator can act on; it never
    /// holds the password.
    fn login_failed(&self, user: &str, e: EtcdError) -> StoreError {
        let message = e.to_string();
        if message.contains("authentication failed")
            || message.contains("invalid user ID or password")
        {
            return StoreError::Unavailable(format!(
                "etcd at {} refused the user {user:?}: wrong user name or password (check etcd_user and etcd_password_file or MAO_ETCD_PASSWORD)",
                self.endpoints
            ));
        }
        match self.with_tls_hint(map_error(&self.endpoints, e, Context::default())) {
            StoreError::Internal(what) => StoreError::Unavailable(format!(
                "cannot authenticate to etcd at {} as {user:?}: {what}",
                self.endpoints
            )),
            other => other,
        }
    }

    /// Runs a compare-on-`mod_revision` transaction and reads the key on failure, so a
    /// failed comparison can tell a missing key from a changed one, and a repeat after an
    /// attempt with an unknown outcome can tell whether that attempt applied.
    async fn guarded(
        &self,
        key: &str,
        expected: Revision,
        write: Guarded,
        ctx: Context,
    ) -> Result<Revision> {
        let op = match &write {
            Guarded::Put { value, lease } => TxnOp::put(key, value.to_vec(), put_options(*lease)),
            Guarded::Delete => TxnOp::delete(key, None),
        };
        let txn = Txn::new()
            // A missing key compares as mod_revision 0, so also require that it exists.
            .when([
                Compare::version(key, CompareOp::Greater, 0),
                Compare::mod_revision(key, CompareOp::Equal, expected),
            ])
            .and_then([op])
            .or_else([TxnOp::get(key, None)]);
        let answer = self
            .run_resolving(ctx, |client| kv_txn(client, txn.clone()))
            .await?;
        let resp = answer.value;
        if resp.succeeded() {
            return txn_revision(&resp);
        }
        let current = txn_get(&resp);
        if answer.after_ambiguous {
            // The compare failed, maybe because an earlier attempt of this very call
            // applied: it did if the key is now what that attempt wrote.
            match (&write, &current) {
                (Guarded::Put { value, lease }, Some(kv))
                    if kv.mod_revision() > expected
                        && kv.value() == value.as_ref()
                        && lease.unwrap_or(0) == kv.lease() =>
                {
                    return Ok(kv.mod_revision());
                }
                (Guarded::Delete, None) => return txn_revision(&resp),
                (Guarded::Put { .. }, _) => {
                    return Err(StoreError::Unavailable(format!(
                        "etcd at {} did not confirm the write of {key} and the key has changed since: it may or may not have been applied",
                        self.endpoints
                    )))
                }
                (Guarded::Delete, Some(_)) => {}
            }
        }
        match current {
            None => Err(StoreError::NotFound {
                key: key.to_owned(),
            }),
            Some(kv) => Err(StoreError::Conflict {
                key: key.to_owned(),
                expected,
                actual: Some(kv.mod_revision()),
            }),
        }
    }
}

/// The write of a guarded transaction.
enum Guarded {
    Put {
        value: Bytes,
        lease: Option<LeaseId>,
    },
    Delete,
}

/// One transaction on a fresh handle of the KV service (each attempt needs its own future).
fn kv_txn(
    client: &Client,
    txn: Txn,
) -> impl Future<Output = std::result::Result<TxnResponse, EtcdError>> + 'static {
    let mut kv = client.kv_client();
    async move { kv.txn(txn).await }
}

/// The key read by the `or_else` branch of a failed transaction, if it exists.
fn txn_get(resp: &TxnResponse) -> Option<etcd_client::KeyValue> {
    resp.op_responses().into_iter().find_map(|r| match r {
        TxnOpResponse::Get(get) => get.kvs().first().cloned(),
        _ => None,
    })
}

/// One attempt of a call, bounded by `left` (tonic's own timeout covers only a request
/// that got a connection, up to the response headers, which leaves streams open).
async fn attempt<T, F>(left: Duration, call: F) -> std::result::Result<T, Failure>
where
    F: Future<Output = std::result::Result<T, EtcdError>>,
{
    match tokio::time::timeout(left, call).await {
        Ok(result) => result.map_err(Failure::Etcd),
        Err(_) => Err(Failure::TimedOut),
    }
}

fn classify(failure: &Failure) -> Class {
    match failure {
        Failure::Etcd(e) => classify_etcd(e),
        Failure::TimedOut => Class::Ambiguous,
        Failure::Final(_) => Class::Final,
    }
}

/// What an etcd-client error says about the request: the one place that decides what
/// may be sent to another member (see [`EtcdStore::run_resolving`]).
fn classify_etcd(e: &EtcdError) -> Class {
    let text = |what: String, source: Option<&(dyn std::error::Error + 'static)>| {
        describe(what, source).to_lowercase()
    };
    match e {
        EtcdError::TransportError(t) => connection_class(&text(t.to_string(), t.source())),
        EtcdError::IoError(io) => connection_class(&text(io.to_string(), io.source())),
        EtcdError::GRpcStatus(status) => {
            let message = status.message();
            if is_auth_status(message)
                || i32::from(status.code()) == GRPC_UNAUTHENTICATED
                || message.contains("requested lease not found")
                || message.contains("required revision has been compacted")
            {
                return Class::Final;
            }
            // A learner serves only Status (and serializable reads): another member may
            // take the request, and this one did nothing with it.
            if message.contains("rpc not supported for learner") {
                return Class::NotSent;
            }
            // etcd's answers for a request it did not hand to raft, or that raft dropped.
            if ["no leader", "raft proposal dropped", "too many requests"]
                .iter()
                .any(|m| message.contains(m))
            {
                return Class::NotTaken;
            }
            match i32::from(status.code()) {
                GRPC_UNAVAILABLE | GRPC_DEADLINE_EXCEEDED | GRPC_CANCELLED => {
                    connection_class(&text(message.to_owned(), status.source()))
                }
                GRPC_UNKNOWN if is_connection_failure(message) => {
                    connection_class(&text(message.to_owned(), status.source()))
                }
                _ => Class::Final,
            }
        }
        EtcdError::LeaseKeepAliveError(m) if m.contains("lease not found") => Class::Final,
        // The request stream of a watch or keep-alive closed under us.
        EtcdError::WatchError(_) | EtcdError::LeaseKeepAliveError(_) => Class::Ambiguous,
        _ => Class::Final,
    }
}

/// A failed connection: never sent when it failed while connecting, unknown otherwise.
fn connection_class(text: &str) -> Class {
    let connecting = [
        "tcp connect error",
        "error trying to connect",
        "connection refused",
        "dns error",
        "no route to host",
        "network is unreachable",
        "invalid peer certificate",
        "handshake",
    ];
    if connecting.iter().any(|needle| text.contains(needle)) {
        Class::NotSent
    } else {
        Class::Ambiguous
    }
}

/// Whether a failure is a request that got no answer in time: ours, tonic's ("timeout
/// expired") or etcd's own "request timed out" (also "... possibly due to previous leader
/// failure"), a proposal that waited for a leader that did not commit it in time.
fn is_timeout(failure: &Failure) -> bool {
    let message = match failure {
        Failure::TimedOut => return true,
        Failure::Final(_) => return false,
        Failure::Etcd(e) => e.to_string().to_lowercase(),
    };
    ["timeout", "timed out", "deadline", "leader changed"]
        .iter()
        .any(|m| message.contains(m))
}

/// Maps every etcd-client error to a store error; the one place that knows etcd's messages.
fn map_error(endpoints: &str, e: EtcdError, ctx: Context) -> StoreError {
    let unavailable = |what: String, source: Option<&(dyn std::error::Error + 'static)>| {
        StoreError::Unavailable(format!(
            "etcd at {endpoints} is unreachable: {}",
            describe(what, source)
        ))
    };
    match &e {
        EtcdError::TransportError(t) => unavailable(t.to_string(), t.source()),
        EtcdError::GRpcStatus(status) if is_auth_status(status.message()) => {
            StoreError::Unavailable(auth_advice(endpoints, status.message()))
        }
        EtcdError::GRpcStatus(status) if i32::from(status.code()) == GRPC_UNAUTHENTICATED => {
            StoreError::Unavailable(format!(
                "etcd at {endpoints} rejected the request: {} (check etcd_user and its password)",
                status.message()
            ))
        }
        EtcdError::IoError(io) => unavailable(io.to_string(), io.source()),
        EtcdError::GRpcStatus(status) => {
            let message = status.message();
            if message.contains("requested lease not found") {
                return StoreError::LeaseNotFound(ctx.lease.unwrap_or_default());
            }
            if message.contains("required revision has been compacted") {
                return StoreError::Compacted(ctx.revision.unwrap_or_default());
            }
            if message.contains("rpc not supported for learner") {
                return StoreError::Unavailable(format!(
                    "etcd at {endpoints}: only learners answered, and a learner does not serve this request; give the store the endpoint of a voting member"
                ));
            }
            match i32::from(status.code()) {
                GRPC_UNAVAILABLE | GRPC_DEADLINE_EXCEEDED | GRPC_CANCELLED => {
                    unavailable(message.to_owned(), status.source())
                }
                GRPC_UNKNOWN if is_connection_failure(message) => {
                    unavailable(message.to_owned(), status.source())
                }
                _ => StoreError::Internal(e.to_string()),
            }
        }
        // etcd-client's own answer to a keep-alive whose response TTL is 0.
        EtcdError::LeaseKeepAliveError(m) if m.contains("lease not found") => {
            StoreError::LeaseNotFound(ctx.lease.unwrap_or_default())
        }
        // The request stream of a watch or keep-alive closed under us: the connection broke.
        EtcdError::WatchError(_) | EtcdError::LeaseKeepAliveError(_) => {
            unavailable(e.to_string(), None)
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

/// Whether etcd rejected the token the request carried (expired, or lost when etcd
/// restarted), or found none where one is needed: a new token may help.
fn is_token_rejected(e: &EtcdError) -> bool {
    match e {
        EtcdError::GRpcStatus(status) => {
            let message = status.message();
            i32::from(status.code()) == GRPC_UNAUTHENTICATED
                || message.contains("invalid auth token")
                || message.contains("user name is empty")
        }
        _ => false,
    }
}

/// etcd's answers that mean the user, its password or its permissions are not right.
fn is_auth_status(message: &str) -> bool {
    [
        "user name is empty",
        "permission denied",
        "invalid auth token",
        "user name not found",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

/// What an operator should do about an authentication or permission error of etcd.
fn auth_advice(endpoints: &str, message: &str) -> String {
    let advice = if message.contains("user name is empty")
        || message.contains("user name not found")
    {
        "etcd has authentication on: set etcd_user and etcd_password_file (or MAO_ETCD_PASSWORD)"
    } else if message.contains("permission denied") {
        "check etcd_user and etcd_password_file (or MAO_ETCD_PASSWORD), and that the user may read and write the federation's prefix"
    } else {
        "the auth token was rejected twice: check etcd_user and its password"
    };
    format!("etcd at {endpoints} refused the request ({message}): {advice}")
}

/// What to do about a TLS failure, from its root cause; empty when it is not one.
fn tls_advice(cause: &str) -> &'static str {
    let cause = cause.to_lowercase();
    if cause.contains("unknownissuer")
        || cause.contains("unknown issuer")
        || cause.contains("invalid peer certificate: badsignature")
    {
        " (etcd's certificate is not signed by the CA of etcd_ca)"
    } else if cause.contains("notvalidforname") || cause.contains("not valid for name") {
        " (etcd's certificate does not name the host of etcd_endpoints)"
    } else if cause.contains("certificaterequired") || cause.contains("certificate required") {
        " (etcd requires a client certificate: set etcd_cert and etcd_key)"
    } else if cause.contains("badcertificate")
        || cause.contains("bad certificate")
        || cause.contains("unknownca")
        || cause.contains("unknown ca")
    {
        " (etcd does not accept the client certificate of etcd_cert: is it signed by etcd's --trusted-ca-file?)"
    } else if cause.contains("invalidcontenttype")
        || cause.contains("corrupt message")
        || cause.contains("http/2") && cause.contains("tls")
    {
        " (is etcd serving TLS? use http:// endpoints for a plain etcd)"
    } else {
        ""
    }
}

/// An error's own message and its root cause ("tcp connect error: connection refused"),
/// without the debug dump that tonic's `Display` adds.
fn describe(what: String, source: Option<&(dyn std::error::Error + 'static)>) -> String {
    let mut root = source;
    while let Some(next) = root.and_then(|r| r.source()) {
        root = Some(next);
    }
    let text = match root.map(|r| r.to_string()) {
        Some(cause) if !what.contains(&cause) => format!("{what}: {cause}"),
        _ => what,
    };
    let advice = tls_advice(&text);
    format!("{text}{advice}")
}

/// Whether a status without a proper code (hyper and h2 errors) means the connection broke.
fn is_connection_failure(message: &str) -> bool {
    let message = message.to_lowercase();
    [
        "connect",
        "connection",
        "transport",
        "broken pipe",
        "reset",
        "h2 protocol",
        "reading a body",
        "stream closed",
        "eof",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

fn txn_revision(resp: &TxnResponse) -> Result<Revision> {
    header_revision(resp.header())
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Result<Revision> {
    header
        .map(|h| h.revision())
        .ok_or_else(|| StoreError::Internal("etcd response without a header".into()))
}

fn put_options(lease: Option<LeaseId>) -> Option<PutOptions> {
    lease.map(|id| PutOptions::new().with_lease(id))
}

fn to_kv(kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    let key = kv
        .key_str()
        .map_err(|e| StoreError::Internal(format!("key in etcd is not utf-8: {e}")))?;
    Ok(KeyValue {
        key: key.to_owned(),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        lease: Some(kv.lease()).filter(|l| *l != 0),
    })
}

fn to_event(event: &etcd_client::Event) -> Result<WatchEvent> {
    let kv = event
        .kv()
        .ok_or_else(|| StoreError::Internal("etcd watch event without a key".into()))?;
    match event.event_type() {
        EventType::Put => Ok(WatchEvent::Put(to_kv(kv)?)),
        // A delete event carries the deleted key with mod_revision set to the delete's revision.
        EventType::Delete => Ok(WatchEvent::Delete {
            key: to_kv(kv)?.key,
            revision: kv.mod_revision(),
        }),
    }
}

/// The state of an open watch; it owns the [`Watcher`] because dropping it closes the
/// request stream, which makes etcd end the watch.
struct WatchState {
    _watcher: Watcher,
    stream: etcd_client::WatchStream,
    pending: VecDeque<Result<WatchEvent>>,
    endpoints: Arc<str>,
    from: Option<Revision>,
}

impl WatchState {
    /// The next event, or the error that ends the watch.
    async fn next(&mut self) -> Result<WatchEvent> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return item;
            }
            let resp = match self.stream.message().await {
                Ok(Some(resp)) => resp,
                Ok(None) => {
                    return Err(StoreError::Unavailable(format!(
                        "etcd at {} closed the watch stream",
                        self.endpoints
                    )))
                }
                Err(e) => return Err(map_error(&self.endpoints, e, Context::revision(self.from))),
            };
            if resp.compact_revision() > 0 {
                return Err(StoreError::Compacted(resp.compact_revision()));
            }
            if resp.canceled() {
                return Err(StoreError::Internal(format!(
                    "etcd canceled the watch: {}",
                    resp.cancel_reason()
                )));
            }
            for event in resp.events() {
                let item = to_event(event);
                let failed = item.is_err();
                self.pending.push_back(item);
                if failed {
                    break;
                }
            }
        }
    }
}

#[async_trait]
impl Store for EtcdStore {
    fn backend(&self) -> &'static str {
        "etcd"
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let resp = self
            .run(Context::default(), |client| {
                let mut kv = client.kv_client();
                async move { kv.get(key, None).await }
            })
            .await?;
        resp.kvs().first().map(to_kv).transpose()
    }

    async fn put(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Revision> {
        let resp = self
            .run(Context::lease(lease), |client| {
                let mut kv = client.kv_client();
                let value = Vec::from(value.clone());
                async move { kv.put(key, value, put_options(lease)).await }
            })
            .await?;
        header_revision(resp.header())
    }

    async fn create(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Revision> {
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value.to_vec(), put_options(lease))])
            .or_else([TxnOp::get(key, None)]);
        let answer = self
            .run_resolving(Context::lease(lease), |client| kv_txn(client, txn.clone()))
            .await?;
        let resp = answer.value;
        if resp.succeeded() {
            return txn_revision(&resp);
        }
        // A repeat after an attempt with an unknown outcome finds the key that attempt
        // created: the same value and lease. (Another writer with byte-identical value
        // and lease would be indistinguishable, and holds the key as this one meant to.)
        match txn_get(&resp) {
            Some(kv)
                if answer.after_ambiguous
                    && kv.value() == value.as_ref()
                    && lease.unwrap_or(0) == kv.lease() =>
            {
                Ok(kv.create_revision())
            }
            _ => Err(StoreError::AlreadyExists {
                key: key.to_owned(),
            }),
        }
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Revision,
        value: Bytes,
        lease: Option<LeaseId>,
    ) -> Result<Revision> {
        let write = Guarded::Put { value, lease };
        self.guarded(key, expected, write, Context::lease(lease))
            .await
    }

    async fn delete(&self, key: &str) -> Result<Option<Revision>> {
        let answer = self
            .run_resolving(Context::default(), |client| {
                let mut kv = client.kv_client();
                async move { kv.delete(key, None).await }
            })
            .await?;
        // After an attempt with an unknown outcome a repeat that deletes nothing cannot
        // tell whether that attempt deleted the key or it was never there; the key is gone
        // either way, as the caller asked, so it counts as deleted.
        if answer.value.deleted() == 0 && !answer.after_ambiguous {
            return Ok(None);
        }
        header_revision(answer.value.header()).map(Some)
    }

    async fn compare_and_delete(&self, key: &str, expected: Revision) -> Result<Revision> {
        self.guarded(key, expected, Guarded::Delete, Context::default())
            .await
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<Page> {
        let end = prefix_end(prefix);
        let mut start = prefix.as_bytes().to_vec();
        if let Some(after) = &options.start_after {
            // The smallest key strictly greater than `after`.
            let mut next = after.as_bytes().to_vec();
            next.push(0);
            start = start.max(next);
        }
        if start.is_empty() {
            // etcd rejects an empty key; "\0" is the smallest one.
            start.push(0);
        }
        // etcd's range end "\0" means "no end"; any other end at or below the start is empty.
        let empty = end != [0] && start >= end;
        // Limit 0 means "no limit" to etcd; one key is enough to tell whether any follows.
        let zero = options.limit == Some(0);
        let mut get = GetOptions::new().with_range(if empty { start.clone() } else { end });
        // No explicit sort: etcd returns ranges in key order, and asking for a sort makes
        // it read the whole range before applying the limit.
        if let Some(limit) = options.limit {
            get = get.with_limit(i64::try_from(limit.max(1)).unwrap_or(i64::MAX));
        }
        if let Some(revision) = options.revision {
            get = get.with_revision(revision);
        }
        if empty {
            // Still ask, for the revision (and a compacted error on a stale pin).
            get = get.with_count_only();
        }
        let resp = self
            .run(Context::revision(options.revision), |client| {
                let mut kv = client.kv_client();
                let (start, get) = (start.clone(), get.clone());
                async move { kv.get(start, Some(get)).await }
            })
            .await?;
        // With a pinned revision the header still carries the current one.
        let revision = match options.revision {
            Some(r) => r,
            None => header_revision(resp.header())?,
        };
        if empty {
            return Ok(Page {
                kvs: Vec::new(),
                more: false,
                revision,
            });
        }
        if zero {
            return Ok(Page {
                kvs: Vec::new(),
                more: !resp.kvs().is_empty(),
                revision,
            });
        }
        let kvs = resp.kvs().iter().map(to_kv).collect::<Result<Vec<_>>>()?;
        Ok(Page {
            kvs,
            more: resp.more(),
            revision,
        })
    }

    async fn watch(&self, prefix: &str, from: Option<Revision>) -> Result<WatchStream> {
        let mut start = prefix.as_bytes().to_vec();
        if start.is_empty() {
            start.push(0);
        }
        let mut options = WatchOptions::new().with_range(prefix_end(prefix));
        if let Some(from) = from {
            options = options.with_start_revision(from);
        }
        let (watcher, stream) = self
            .run(Context::revision(from), |client| {
                let mut client = client.watch_client();
                let (start, options) = (start.clone(), options.clone());
                async move { client.watch(start, Some(options)).await }
            })
            .await?;
        let state = WatchState {
            _watcher: watcher,
            stream,
            pending: VecDeque::new(),
            endpoints: self.endpoints.clone(),
            from,
        };
        let events = futures::stream::unfold(Some(state), |state| async move {
            let mut state = state?;
            match state.next().await {
                Ok(event) => Some((Ok(event), Some(state))),
                // The watch is over after an error; dropping the state cancels it.
                Err(e) => Some((Err(e), None)),
            }
        });
        Ok(events.boxed())
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        if ttl.is_zero() {
            return Err(StoreError::Invalid("a lease needs a TTL above zero".into()));
        }
        // etcd counts whole seconds; round up so a lease never lives shorter than asked.
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        let secs = i64::try_from(secs.max(1)).unwrap_or(i64::MAX);
        let resp = self
            .run(Context::default(), |client| {
                let mut lease = client.lease_client();
                async move { lease.grant(secs, None).await }
            })
            .await?;
        if !resp.error().is_empty() {
            return Err(StoreError::Internal(format!(
                "etcd refused the lease: {}",
                resp.error()
            )));
        }
        Ok(resp.id())
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<()> {
        // etcd-client opens a keep-alive stream, sends one request and waits for its
        // answer; a TTL <= 0 in that answer is its "lease not found". Dropping the stream
        // afterwards closes it, so this is exactly one refresh.
        let (_keeper, _stream) = self
            .run(Context::lease(Some(lease)), |client| {
                let mut client = client.lease_client();
                async move { client.keep_alive(lease).await }
            })
            .await?;
        Ok(())
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        match self
            .run(Context::lease(Some(lease)), |client| {
                let mut client = client.lease_client();
                async move { client.revoke(lease).await }
            })
            .await
        {
            Ok(_) | Err(StoreError::LeaseNotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn ping(&self) -> Result<Revision> {
        // A linearizable count-only read: cheap, yet it needs a working quorum.
        let resp = self
            .run(Context::default(), |client| {
                let mut kv = client.kv_client();
                let get = GetOptions::new().with_count_only();
                async move { kv.get("\0", Some(get)).await }
            })
            .await?;
        header_revision(resp.header())
    }
}
