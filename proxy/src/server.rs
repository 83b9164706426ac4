//! The proxy server: `run(listener, config, shutdown)` accepts clients until shutdown, then
//! drains sessions for a grace period and closes the backend pools.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use octodb_catalog::Catalog;
use tokio::net::TcpListener;

use crate::net::Socket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::audit::{AuditSampler, AuditWriter};
use crate::backend::Backends;
use crate::config::ProxyConfig;
use crate::follow::{Followers, Intervals, Notices};
use crate::metrics;
use crate::workers::Workers;

/// What every session shares.
pub struct Shared {
    pub config: ProxyConfig,
    pub catalog: Catalog,
    pub backends: Arc<Backends>,
    pub decisions: crate::cache::DecisionCache,
    /// SELECT results of the tenants that opted in.
    pub results: crate::result_cache::ResultCache,
    /// Statement digests since the last flush to the catalog.
    pub digests: Arc<crate::digest::DigestStats>,
    /// Which tenants the statement metrics name.
    pub tenant_labels: Arc<crate::tenant_labels::TenantLabels>,
    /// This proxy's name in the digest table.
    pub proxy_id: String,
    /// Load balancers whose PROXY protocol header gives the client's address.
    pub proxy_from: Vec<crate::proxy_header::Network>,
    /// Tenants with open sessions, told about catalog changes.
    pub followers: Arc<Followers>,
    /// Per-tenant limits and failed-login counts.
    pub limits: Arc<crate::limits::Limits>,
    /// Auth failures and refusals, sampled into the audit log.
    pub audit: AuditSampler,
    /// Taken (and run) by `serve`.
    audit_writer: Mutex<Option<AuditWriter>>,
    pub server_version: String,
    /// Where sessions run (`worker_threads`).
    pub workers: Arc<Workers>,
    next_connection_id: AtomicU32,
}

impl Shared {
    fn next_connection_id(&self) -> u32 {
        // Never 0; unique until it wraps after 4 billion connections.
        loop {
            let id = self.next_connection_id.fetch_add(1, Ordering::Relaxed);
            if id != 0 {
                return id;
            }
        }
    }
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("catalog: {0}")]
    Catalog(#[from] octodb_catalog::CatalogError),
    #[error("cannot read the backend version: {0}")]
    Version(#[from] mysql_async::Error),
    #[error("cannot start the worker threads: {0}")]
    Workers(#[from] std::io::Error),
}

/// The version string clients see: the backend's, as MariaDB announces it, marked as OctoDB.
async fn backend_version(cfg: &ProxyConfig) -> Result<String, StartError> {
    if let Some(v) = &cfg.server_version {
        return Ok(v.clone());
    }
    let opts = mysql_async::Opts::from_url(&cfg.catalog.url)
        .map_err(|e| StartError::Config(format!("catalog.url: {e}")))?;
    let mut conn = mysql_async::Conn::new(opts).await?;
    let version: Option<String> = conn.query_first("SELECT VERSION()").await?;
    let _ = conn.disconnect().await;
    let version = version.unwrap_or_else(|| "10.11.0-MariaDB".into());
    Ok(if version.contains("MariaDB") {
        // MariaDB prefixes 5.5.5- for old clients; mysql clients strip it.
        format!("5.5.5-{version}-OctoDB")
    } else {
        format!("{version}-OctoDB")
    })
}

/// Prepares the shared state: catalog (migrations applied), backend version, pools.
pub async fn prepare(config: ProxyConfig) -> Result<Arc<Shared>, StartError> {
    config.validate().map_err(StartError::Config)?;
    let catalog = Catalog::connect(&config.catalog).await?;
    let server_version = backend_version(&config).await?;
    let workers = Workers::start(config.workers())?;
    let limits =
        crate::limits::Limits::new(config.limits.clone(), config.pool_max, &server_version);
    let backends = Backends::new(crate::backend::PoolSettings {
        max: config.pool_max,
        wait: Duration::from_secs(config.pool_wait_secs),
        idle: Duration::from_secs(config.pool_idle_secs),
        connect_timeout: Duration::from_millis(config.backend_connect_timeout_ms),
        stmt_cache: config.backend_stmt_cache,
        max_packet: config.max_packet_size,
        workers: workers.len(),
    });
    let decisions = crate::cache::DecisionCache::new(config.decision_cache_bytes);
    let results = crate::result_cache::ResultCache::new(config.result_cache.clone());
    let (audit, audit_writer) = AuditSampler::new(&config.audit);
    let digests = Arc::new(crate::digest::DigestStats::new(
        crate::digest::DigestBounds {
            per_tenant: config.digest_max_per_tenant,
            total: config.digest_max_total,
        },
    ));
    let tenant_labels = Arc::new(crate::tenant_labels::TenantLabels::new(&config.metrics));
    let proxy_id = crate::digest::proxy_id(config.proxy_id.as_deref());
    let proxy_from = config
        .proxy_protocol_from
        .iter()
        .map(|n| crate::proxy_header::Network::parse(n))
        .collect::<Result<Vec<_>, _>>()
        .map_err(StartError::Config)?;
    Ok(Arc::new(Shared {
        proxy_from,
        decisions,
        results,
        digests,
        tenant_labels,
        proxy_id,
        followers: Arc::new(Followers::default()),
        limits,
        audit,
        audit_writer: Mutex::new(audit_writer),
        config,
        catalog,
        backends,
        server_version,
        workers,
        next_connection_id: AtomicU32::new(rand::random::<u32>() % 1_000_000 + 1),
    }))
}

/// Connections waiting to be accepted, per listener.
const BACKLOG: i32 = 1024;

/// A listener on the first address `addr` resolves to, ready for the workers to share
/// (SO_REUSEPORT), with TCP_NODELAY for the connections it accepts and a backlog of 1,024
/// (a burst of clients connecting at once is queued rather than refused).
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        match listen_on(addr, None) {
            Ok(l) => return TcpListener::from_std(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to listen on")
    }))
}

/// A non-blocking listener on `addr` that shares it with the others (SO_REUSEPORT);
/// `v6_only` as the first listener's, for another on the same IPv6 address.
fn listen_on(addr: SocketAddr, v6_only: Option<bool>) -> std::io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    if let (true, Some(v6_only)) = (addr.is_ipv6(), v6_only) {
        socket.set_only_v6(v6_only)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Serves clients on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: TcpListener,
    config: ProxyConfig,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    let shared = prepare(config).await?;
    serve(listener, shared, shutdown).await;
    Ok(())
}

/// The accept loop over prepared shared state.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, shutdown: CancellationToken) {
    let tracker = TaskTracker::new();
    follow_catalog(&shared, &tracker, &shutdown);
    tracker.spawn(reap_idle(shared.backends.clone(), shutdown.clone()));
    tracker.spawn(expire_waits(shared.backends.clone(), shutdown.clone()));
    let audit_stop = CancellationToken::new();
    let audit_writer = start_audit_writer(&shared, &audit_stop);
    let observer = start_observers(&shared, &audit_stop);
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, version = %shared.server_version, "OctoDB proxy listening");
    }
    let nodelay = socket2::SockRef::from(&listener)
        .set_tcp_nodelay(true)
        .is_ok();
    // Each worker accepts on a listener of its own on the same address; worker 0 on the one
    // given. This runtime keeps the background tasks and waits for the shutdown.
    let mut listeners = worker_listeners(&listener, shared.workers.len());
    match listener.into_std() {
        Ok(first) => listeners.insert(0, (0, first)),
        Err(e) => warn!(error = %e, "the listener could not be handed to a worker"),
    }
    for (index, std_listener) in listeners {
        let (shared2, tracker2, shutdown2) = (shared.clone(), tracker.clone(), shutdown.clone());
        shared.workers.spawn(
            index,
            tracker.track_future(async move {
                match TcpListener::from_std(std_listener) {
                    Ok(l) => accept_loop(l, nodelay, &shared2, &tracker2, &shutdown2).await,
                    Err(e) => warn!(error = %e, worker = index, "a worker could not listen"),
                }
            }),
        );
    }
    shutdown.cancelled().await;
    tracker.close();
    let grace = Duration::from_secs(shared.config.shutdown_grace_secs);
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        warn!("sessions still open after the shutdown grace period");
    }
    // After the sessions, so that their last events are written too.
    audit_stop.cancel();
    if tokio::time::timeout(grace, observer).await.is_err() {
        warn!("statement digests still unpublished after the shutdown grace period");
    }
    if let Some(writer) = audit_writer {
        if tokio::time::timeout(grace, writer).await.is_err() {
            warn!("proxy audit entries still unwritten after the shutdown grace period");
        }
    }
    shared.backends.close().await;
    shared.workers.stop();
    info!("OctoDB proxy stopped");
}

/// Accepts clients on `listener` until shutdown. `nodelay`: TCP_NODELAY is set on the
/// listener, which Linux copies to the connections it accepts.
async fn accept_loop(
    listener: TcpListener,
    nodelay: bool,
    shared: &Arc<Shared>,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                if !(nodelay && cfg!(target_os = "linux")) {
                    let _ = stream.set_nodelay(true);
                }
                start_session(tracker, Socket::from_tokio(stream), peer, shared, shutdown)
            }
            Err(e) => {
                warn!(error = %e, "accept failed");
                crate::timers::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Listeners for workers 1 to `workers - 1`, bound to `listener`'s address with SO_REUSEPORT,
/// so that the kernel spreads new connections over the workers and each accepts its own:
/// no socket moves from one event loop to another, and no wake-up of another thread, for a
/// new session. Empty when the address cannot be shared (the accepting worker then hands
/// sessions to the others).
fn worker_listeners(listener: &TcpListener, workers: usize) -> Vec<(usize, std::net::TcpListener)> {
    if workers < 2 {
        return Vec::new();
    }
    let shared_listeners = || -> std::io::Result<Vec<(usize, std::net::TcpListener)>> {
        let addr = listener.local_addr()?;
        let first = socket2::SockRef::from(listener);
        first.set_reuse_port(true)?;
        let v6_only = if addr.is_ipv6() {
            Some(first.only_v6()?)
        } else {
            None
        };
        (1..workers)
            .map(|index| Ok((index, listen_on(addr, v6_only)?)))
            .collect()
    };
    match shared_listeners() {
        Ok(listeners) => listeners,
        Err(e) => {
            info!(error = %e, "one listener for all workers: the address cannot be shared");
            Vec::new()
        }
    }
}

/// Runs the client's session on the worker that accepted it, unless that worker is clearly
/// busier than another (`Workers::assign_from`). A session for another worker has its socket
/// moved to that worker's event loop first.
fn start_session(
    tracker: &TaskTracker,
    stream: Socket,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    shutdown: &CancellationToken,
) {
    let assigned = shared.workers.assign_from(crate::workers::current());
    let (shared, shutdown) = (shared.clone(), shutdown.clone());
    if assigned.index() == crate::workers::current() {
        // Boxed: the task then holds a pointer, not the whole session state machine, which
        // tokio would otherwise copy as the task is created and finished.
        tracker.spawn(Box::pin(async move {
            handle_client(stream, peer, shared, shutdown).await;
            drop(assigned);
        }));
        return;
    }
    let stream = match stream.into_std() {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "could not hand a connection to a worker");
            return;
        }
    };
    let index = assigned.index();
    let workers = shared.workers.clone();
    workers.spawn(
        index,
        tracker.track_future(Box::pin(async move {
            match Socket::new(stream) {
                Ok(stream) => handle_client(stream, peer, shared, shutdown).await,
                Err(e) => warn!(error = %e, "a worker could not take a connection"),
            }
            drop(assigned);
        })),
    );
}

/// Closes idle backend connections past `pool_idle_secs` in every pool, until shutdown.
async fn reap_idle(backends: Arc<Backends>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(backends.reap_every());
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {
                let closed = backends.reap().await;
                if closed > 0 {
                    debug!(closed, "idle backend connections closed");
                }
            }
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Lets go of the sessions that waited for a backend connection past the pool wait, every
/// `backend::SWEEP_EVERY`, until shutdown (workers have no timers: see `backend::slots`).
async fn expire_waits(backends: Arc<Backends>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(crate::backend::SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {
                let expired = backends.expire_waits();
                if expired > 0 {
                    debug!(expired, "sessions stopped waiting for a backend connection");
                }
            }
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Starts following the catalog: the watcher, and the Redis subscriber feeding it notices
/// when `[redis] url` is set; with Redis, also the sharing of result-cache writes with the
/// catalog's other proxies (`crate::peers`).
fn follow_catalog(shared: &Arc<Shared>, tracker: &TaskTracker, shutdown: &CancellationToken) {
    let config = &shared.config;
    let every = Intervals {
        poll: Duration::from_millis(config.catalog_poll_ms),
        fallback: Duration::from_millis(config.catalog_fallback_poll_ms),
    };
    let client = config.redis.url.as_deref().and_then(|url| {
        redis::Client::open(url)
            .map_err(|e| warn!(kind = ?e.kind(), "redis.url unusable; polling the catalog"))
            .ok()
    });
    let notices = client.map(|client| {
        let (tx, rx) = tokio::sync::watch::channel(Notices::default());
        let (link, outbox) = crate::peers::PeerLink::new();
        shared.results.share(link);
        // Unique to this process even when two proxies were given the same proxy_id.
        let me = format!("{}#{:016x}", shared.proxy_id, rand::random::<u64>());
        let writes = crate::peers::channel(&shared.catalog.notice_channel());
        tracker.spawn(crate::peers::publish(
            client.clone(),
            writes.clone(),
            me.clone(),
            outbox,
            shutdown.clone(),
        ));
        tracker.spawn(crate::notify::listen(
            client,
            shared.catalog.notice_channel(),
            tx,
            Some(crate::peers::Listener::new(writes, me, shared.clone())),
            shutdown.clone(),
        ));
        rx
    });
    tracker.spawn(crate::follow::watch_catalog(
        shared.catalog.clone(),
        shared.followers.clone(),
        shared.limits.clone(),
        every,
        notices,
        shutdown.clone(),
    ));
}

/// Starts the tenant-label ranking and, unless `digest_flush_secs` is 0, the digest
/// publisher; both end at `stop` (the publisher after a last flush). The handle ends with both.
fn start_observers(shared: &Shared, stop: &CancellationToken) -> tokio::task::JoinHandle<()> {
    let config = &shared.config;
    let ranking = tokio::spawn(shared.tenant_labels.clone().run(
        Duration::from_millis(config.metrics.top_k_refresh_ms),
        stop.clone(),
    ));
    let publisher = (config.digest_flush_secs > 0).then(|| {
        tokio::spawn(crate::digest::publish(
            shared.digests.clone(),
            shared.catalog.clone(),
            shared.proxy_id.clone(),
            Duration::from_secs(config.digest_flush_secs),
            stop.clone(),
        ))
    });
    tokio::spawn(async move {
        let _ = ranking.await;
        if let Some(p) = publisher {
            let _ = p.await;
        }
    })
}

/// Runs the audit writer until `stop` (it then flushes); `None` when sampling is off or
/// `serve` already took it.
fn start_audit_writer(
    shared: &Shared,
    stop: &CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let writer = crate::sync::lock(&shared.audit_writer).take()?;
    Some(tokio::spawn(
        writer.run(shared.catalog.clone(), stop.clone()),
    ))
}

/// The client's address: `peer`, or the one in the PROXY protocol header when `peer` is a
/// load balancer listed in `proxy_protocol_from`. `None`: such a peer sent no valid header in
/// time, and the connection is closed without a greeting.
async fn client_address(stream: &Socket, peer: SocketAddr, shared: &Shared) -> Option<SocketAddr> {
    if !shared.proxy_from.iter().any(|n| n.contains(peer.ip())) {
        return Some(peer);
    }
    let mut reader = stream;
    let wait = crate::proxy_header::HEADER_WAIT;
    let header = crate::timers::timeout(wait, crate::proxy_header::read(&mut reader, peer)).await;
    let e = match header {
        Ok(Ok(client)) => return Some(client),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no PROXY protocol header within {wait:?}"),
    };
    metrics::proxy_header_refused();
    info!(%peer, error = %e, "connection from a load balancer closed");
    None
}

/// One client connection, from accept to close. `peer` is the address `accept` returned (no
/// `getpeername` per connection). The session logs in its own span, made only when it logs
/// (`crate::session`).
async fn handle_client(
    stream: Socket,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let id = shared.next_connection_id();
    metrics::connection_opened();
    // The session reads and writes through two shared references; closing the socket when
    // it ends sends the FIN, without a shutdown(2).
    if let Some(client) = client_address(&stream, peer, &shared).await {
        let _ = crate::session::serve(&stream, &stream, shared, id, Some(client), shutdown).await;
    }
    metrics::connection_closed();
}
