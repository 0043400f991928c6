//! The etcd backend: etcd's v3 API through `etcd-client`.
//!
//! The client connects lazily and reconnects by itself: each endpoint is a tonic
//! connection that dials on first use and dials again after the connection breaks, so
//! while etcd is down every request fails fast with [`StoreError::Unavailable`] and the
//! same [`EtcdStore`] works again once etcd is back.

use std::collections::VecDeque;
use std::error::Error as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, Error as EtcdError, EventType, GetOptions,
    PutOptions, Txn, TxnOp, TxnOpResponse, TxnResponse, WatchOptions, Watcher,
};
use futures::StreamExt;

use crate::{
    prefix_end, KeyValue, LeaseId, ListOptions, Page, Result, Revision, Store, StoreError,
    WatchEvent, WatchStream,
};

/// Deadline of one request once a connection is up (tonic's per-request timeout).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Deadline of dialing one endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Outer bound of a whole call: tonic's timeout only covers a request that got a
/// connection and stops at the response headers, which leaves streaming calls open.
const CALL_TIMEOUT: Duration = Duration::from_secs(6);
/// HTTP/2 pings find a dead peer on long-lived streams (watches) that TCP would not notice.
/// etcd refuses pings more often than every 5 s (`--grpc-keepalive-min-time`).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);

// gRPC status codes (fixed by the gRPC spec); tonic is not a direct dependency of this crate.
const GRPC_CANCELLED: i32 = 1;
const GRPC_UNKNOWN: i32 = 2;
const GRPC_DEADLINE_EXCEEDED: i32 = 4;
const GRPC_UNAVAILABLE: i32 = 14;

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

/// The federation store: an etcd cluster reached through its v3 gRPC API.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    /// The endpoints, comma-separated, for error messages.
    endpoints: Arc<str>,
}

impl EtcdStore {
    /// Creates a client for `endpoints`; it does not dial yet, so it succeeds while etcd is down.
    pub async fn connect(endpoints: &[String]) -> Result<EtcdStore> {
        if endpoints.is_empty() {
            return Err(StoreError::Invalid("no etcd endpoints given".into()));
        }
        let options = ConnectOptions::new()
            .with_timeout(REQUEST_TIMEOUT)
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_keep_alive(KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT)
            // etcd does not permit pings without an open stream and answers them with
            // GOAWAY ("too_many_pings"), which would break the connection every few pings.
            .with_keep_alive_while_idle(false);
        let joined: Arc<str> = endpoints.join(",").into();
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(|e| map_error(&joined, e, Context::default()))?;
        Ok(EtcdStore {
            client,
            endpoints: joined,
        })
    }

    /// The endpoints this store talks to, comma-separated.
    pub fn endpoints(&self) -> &str {
        &self.endpoints
    }

    /// Runs one etcd call under [`CALL_TIMEOUT`] and maps its error.
    async fn run<T, F>(&self, ctx: Context, call: F) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, EtcdError>>,
    {
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(result) => result.map_err(|e| map_error(&self.endpoints, e, ctx)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "etcd at {} did not answer within {}s",
                self.endpoints,
                CALL_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Runs a compare-on-`mod_revision` transaction and reads the key on failure, so a
    /// failed comparison can tell a missing key from a changed one.
    async fn guarded(
        &self,
        key: &str,
        expected: Revision,
        op: TxnOp,
        ctx: Context,
    ) -> Result<Revision> {
        let txn = Txn::new()
            // A missing key compares as mod_revision 0, so also require that it exists.
            .when([
                Compare::version(key, CompareOp::Greater, 0),
                Compare::mod_revision(key, CompareOp::Equal, expected),
            ])
            .and_then([op])
            .or_else([TxnOp::get(key, None)]);
        let mut kv = self.client.kv_client();
        let resp = self.run(ctx, kv.txn(txn)).await?;
        if resp.succeeded() {
            return txn_revision(&resp);
        }
        let actual = resp.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Get(get) => Some(get.kvs().first().map(|kv| kv.mod_revision())),
            _ => None,
        });
        match actual.flatten() {
            None => Err(StoreError::NotFound {
                key: key.to_owned(),
            }),
            Some(actual) => Err(StoreError::Conflict {
                key: key.to_owned(),
                expected,
                actual: Some(actual),
            }),
        }
    }
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
        EtcdError::IoError(io) => unavailable(io.to_string(), io.source()),
        EtcdError::GRpcStatus(status) => {
            let message = status.message();
            if message.contains("requested lease not found") {
                return StoreError::LeaseNotFound(ctx.lease.unwrap_or_default());
            }
            if message.contains("required revision has been compacted") {
                return StoreError::Compacted(ctx.revision.unwrap_or_default());
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

/// An error's own message and its root cause ("tcp connect error: connection refused"),
/// without the debug dump that tonic's `Display` adds.
fn describe(what: String, source: Option<&(dyn std::error::Error + 'static)>) -> String {
    let mut root = source;
    while let Some(next) = root.and_then(|r| r.source()) {
        root = Some(next);
    }
    match root.map(|r| r.to_string()) {
        Some(cause) if !what.contains(&cause) => format!("{what}: {cause}"),
        _ => what,
    }
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
        let mut kv = self.client.kv_client();
        let resp = self.run(Context::default(), kv.get(key, None)).await?;
        resp.kvs().first().map(to_kv).transpose()
    }

    async fn put(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Revision> {
        let mut kv = self.client.kv_client();
        let resp = self
            .run(
                Context::lease(lease),
                kv.put(key, Vec::from(value), put_options(lease)),
            )
            .await?;
        header_revision(resp.header())
    }

    async fn create(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Revision> {
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, Vec::from(value), put_options(lease))]);
        let mut kv = self.client.kv_client();
        let resp = self.run(Context::lease(lease), kv.txn(txn)).await?;
        if !resp.succeeded() {
            return Err(StoreError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        txn_revision(&resp)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Revision,
        value: Bytes,
        lease: Option<LeaseId>,
    ) -> Result<Revision> {
        let op = TxnOp::put(key, Vec::from(value), put_options(lease));
        self.guarded(key, expected, op, Context::lease(lease)).await
    }

    async fn delete(&self, key: &str) -> Result<Option<Revision>> {
        let mut kv = self.client.kv_client();
        let resp = self.run(Context::default(), kv.delete(key, None)).await?;
        if resp.deleted() == 0 {
            return Ok(None);
        }
        header_revision(resp.header()).map(Some)
    }

    async fn compare_and_delete(&self, key: &str, expected: Revision) -> Result<Revision> {
        let op = TxnOp::delete(key, None);
        self.guarded(key, expected, op, Context::default()).await
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
        let mut kv = self.client.kv_client();
        let resp = self
            .run(
                Context::revision(options.revision),
                kv.get(start, Some(get)),
            )
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
        let mut client = self.client.watch_client();
        let (watcher, stream) = self
            .run(Context::revision(from), client.watch(start, Some(options)))
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
        let mut lease = self.client.lease_client();
        let resp = self
            .run(Context::default(), lease.grant(secs, None))
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
        let mut client = self.client.lease_client();
        // etcd-client opens a keep-alive stream, sends one request and waits for its
        // answer; a TTL <= 0 in that answer is its "lease not found". Dropping the stream
        // afterwards closes it, so this is exactly one refresh.
        let (_keeper, _stream) = self
            .run(Context::lease(Some(lease)), client.keep_alive(lease))
            .await?;
        Ok(())
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        let mut client = self.client.lease_client();
        match self
            .run(Context::lease(Some(lease)), client.revoke(lease))
            .await
        {
            Ok(_) | Err(StoreError::LeaseNotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn ping(&self) -> Result<Revision> {
        // A linearizable count-only read: cheap, yet it needs a working quorum.
        let mut kv = self.client.kv_client();
        let get = GetOptions::new().with_count_only();
        let resp = self
            .run(Context::default(), kv.get("\0", Some(get)))
            .await?;
        header_revision(resp.header())
    }
}
