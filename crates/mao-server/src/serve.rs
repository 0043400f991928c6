//! Serving the router on a socket: plain HTTP or HTTPS (rustls), with a bound on
//! connections, a deadline for a request's headers (which is also the longest a kept-alive
//! connection may wait for its next request), an idle timeout, and a graceful shutdown.
//! `axum::serve` offers none of the timeouts, so connections are driven by hyper here.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Body;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;
use tracing::{debug, warn};

/// How connections are served.
#[derive(Clone)]
pub struct ServeSettings {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// Serve HTTPS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// How long connections still open at shutdown are given to finish.
    pub drain: Duration,
}

/// The TLS configuration of a PEM certificate chain and its private key.
pub fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| {
            format!(
                "tls_cert: {} is not a PEM certificate chain",
                cert.display()
            )
        })?;
    if certs.is_empty() {
        anyhow::bail!("tls_cert: {} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("tls_key: {} is not a PEM private key", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("tls_cert and tls_key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open connections finish
/// their requests for up to `settings.drain`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: ServeSettings,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(settings.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let acceptor = settings.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // At the bound, connections wait in the listen backlog until one closes.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection reset before accept: keep going.
                    warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let settings = settings.clone();
        let acceptor = acceptor.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let activity = Arc::new(Activity::new());
            let tcp = Tracked {
                inner: tcp,
                activity: activity.clone(),
            };
            match acceptor {
                None => connection(tcp, app, &settings, activity, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(settings.header_timeout, acceptor.accept(tcp)).await
                    {
                        Ok(Ok(tls)) => connection(tls, app, &settings, activity, stop).await,
                        Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a permit: all are back when every connection has ended.
    let all = u32::try_from(settings.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(settings.drain, permits.acquire_many(all))
        .await
        .is_err()
    {
        warn!(
            "open connections did not close within {} s; stopping anyway",
            settings.drain.as_secs()
        );
    }
}

/// Drives one connection until it ends, goes idle, or the server stops.
async fn connection<I>(
    io: I,
    app: Router,
    settings: &ServeSettings,
    activity: Arc<Activity>,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let activity = activity.clone();
            let app = app.clone();
            async move {
                let response = app.oneshot(request.map(Body::new)).await?;
                Ok::<_, std::convert::Infallible>(response.map(|body| {
                    Body::new(TrackedBody {
                        body,
                        activity,
                        waiting: false,
                    })
                }))
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let idle = settings.idle_timeout;
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    debug!(error = %e, "connection ended");
                }
                return;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
            () = tokio::time::sleep(activity.until_idle(idle)) => {
                if activity.is_idle(idle) {
                    debug!("closing an idle connection");
                    return;
                }
            }
        }
    }
}

/// When bytes last moved on a connection, and how many of its responses wait for data.
///
/// A connection is idle when no byte moved for the idle timeout and no response body is
/// waiting for data of its own (a followed log of a quiet run, which may be silent for
/// long). A client that stops reading a response, or stops sending a request's body, moves
/// no byte and has no such body: it is closed after the timeout like a silent one.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    waiting: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }

    fn is_idle(&self, idle: Duration) -> bool {
        self.waiting.load(Ordering::Relaxed) == 0 && self.quiet_for() >= idle
    }

    /// How long until the connection could be idle at the earliest.
    fn until_idle(&self, idle: Duration) -> Duration {
        idle.saturating_sub(self.quiet_for())
            .max(Duration::from_millis(100))
    }
}

/// A response body that tells its connection when it is waiting for data to send.
struct TrackedBody {
    body: Body,
    activity: Arc<Activity>,
    /// Whether the last poll found no data yet (counted in `activity.waiting`).
    waiting: bool,
}

impl TrackedBody {
    fn set_waiting(&mut self, waiting: bool) {
        if waiting != self.waiting {
            self.waiting = waiting;
            if waiting {
                self.activity.waiting.fetch_add(1, Ordering::Relaxed);
            } else {
                self.activity.waiting.fetch_sub(1, Ordering::Relaxed);
                self.activity.touch();
            }
        }
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.set_waiting(false);
    }
}

impl http_body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        let waiting = polled.is_pending();
        self.set_waiting(waiting);
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A socket that notes when bytes move on it.
struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            if *n > 0 {
                self.activity.touch();
            }
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &polled {
            if *n > 0 {
                self.activity.touch();
            }
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
