//! A fault-injecting TCP proxy for tests: it forwards bytes between a client
//! and an upstream server and breaks connections on purpose.
//!
//! Each accepted connection gets its own upstream connection. The plan
//! ([`FaultPlan`]) decides, per connection, whether it is faulted and after
//! how many **response** bytes (upstream to client, headers included): a
//! number drawn from a seeded PRNG, so a run is reproducible. The fault is
//! one of:
//!
//! - [`Fault::Close`]: a clean close (FIN) of the client side mid-response;
//! - [`Fault::Reset`]: an abortive close (`SO_LINGER` 0, so an RST);
//! - [`Fault::Stall`]: no more bytes forwarded, the connection kept open
//!   until the client gives up (or [`FaultPlan::stall_for`] has passed).
//!
//! Requests (client to upstream) are forwarded untouched.
//!
//! ```ignore
//! #[path = "support/fault_proxy.rs"]
//! mod fault_proxy;
//! use fault_proxy::{Fault, FaultPlan, FaultProxy};
//!
//! let plan = FaultPlan::cut_between(7, 1 << 20, 8 << 20)
//!     .faults(&[Fault::Close, Fault::Reset])
//!     .max_faults(25);
//! let proxy = FaultProxy::start(server_addr, plan).await;
//! // ... point the client at proxy.addr() ...
//! eprintln!("{:?}", proxy.report());
//! assert!(proxy.cuts() >= 20);
//! ```
//!
//! Dropping the proxy stops it: the accept loop and every connection task
//! are aborted. Bounded by construction: a stall ends after `stall_for`, and
//! nothing but loopback is ever connected to.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// How a faulted connection is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Close the client side cleanly (FIN) after the byte budget.
    Close,
    /// Close the client side abortively (RST, `SO_LINGER` 0).
    Reset,
    /// Stop forwarding response bytes; keep the connection open until the
    /// client closes it or [`FaultPlan::stall_for`] has passed.
    Stall,
}

/// What the proxy does to the connections it accepts.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    seed: u64,
    cut_min: u64,
    cut_max: u64,
    kinds: Vec<Fault>,
    max_faults: Option<u64>,
    skip_connections: u64,
    stall_for: Duration,
}

impl FaultPlan {
    /// Forward everything, inject nothing.
    pub fn none() -> Self {
        Self {
            seed: 0,
            cut_min: 0,
            cut_max: 0,
            kinds: Vec::new(),
            max_faults: Some(0),
            skip_connections: 0,
            stall_for: Duration::from_secs(30),
        }
    }

    /// Fault every connection after a number of response bytes drawn
    /// uniformly from `min..=max` by a PRNG seeded with `seed`. The fault is
    /// [`Fault::Close`] unless [`faults`](Self::faults) says otherwise.
    pub fn cut_between(seed: u64, min: u64, max: u64) -> Self {
        Self {
            seed,
            cut_min: min.min(max),
            cut_max: max.max(min),
            kinds: vec![Fault::Close],
            max_faults: None,
            skip_connections: 0,
            stall_for: Duration::from_secs(30),
        }
    }

    /// The kinds of fault to draw from (uniformly) for each faulted
    /// connection. An empty list means no faults.
    pub fn faults(mut self, kinds: &[Fault]) -> Self {
        self.kinds = kinds.to_vec();
        self
    }

    /// Inject at most this many faults; later connections pass untouched.
    pub fn max_faults(mut self, faults: u64) -> Self {
        self.max_faults = Some(faults);
        self
    }

    /// Leave the first `connections` connections untouched.
    pub fn skip_connections(mut self, connections: u64) -> Self {
        self.skip_connections = connections;
        self
    }

    /// The longest a [`Fault::Stall`] holds a connection open (default
    /// 30 s); the client is expected to give up well before.
    pub fn stall_for(mut self, duration: Duration) -> Self {
        self.stall_for = duration;
        self
    }
}

/// What the proxy did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultReport {
    /// Connections accepted.
    pub connections: u64,
    /// Connections closed cleanly mid-response.
    pub closes: u64,
    /// Connections reset mid-response.
    pub resets: u64,
    /// Connections stalled mid-response.
    pub stalls: u64,
    /// Response bytes forwarded to clients, over all connections.
    pub response_bytes: u64,
}

impl FaultReport {
    /// Faults of any kind injected.
    pub fn faults(&self) -> u64 {
        self.closes + self.resets + self.stalls
    }
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    closes: AtomicU64,
    resets: AtomicU64,
    stalls: AtomicU64,
    response_bytes: AtomicU64,
}

/// A running proxy. Dropping it stops it.
pub struct FaultProxy {
    addr: SocketAddr,
    counters: Arc<Counters>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on an ephemeral loopback port and forwards each connection to
    /// `upstream` under `plan`. Panics if it cannot bind (test support).
    pub async fn start(upstream: SocketAddr, plan: FaultPlan) -> FaultProxy {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the fault proxy on loopback");
        let addr = listener.local_addr().expect("fault proxy address");
        let counters = Arc::new(Counters::default());
        let accept_loop = tokio::spawn(accept_loop(listener, upstream, plan, counters.clone()));
        FaultProxy {
            addr,
            counters,
            accept_loop,
        }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Faults injected so far (closes, resets and stalls).
    pub fn cuts(&self) -> u64 {
        self.report().faults()
    }

    /// Everything counted so far.
    pub fn report(&self) -> FaultReport {
        let c = &self.counters;
        FaultReport {
            connections: c.connections.load(Ordering::SeqCst),
            closes: c.closes.load(Ordering::SeqCst),
            resets: c.resets.load(Ordering::SeqCst),
            stalls: c.stalls.load(Ordering::SeqCst),
            response_bytes: c.response_bytes.load(Ordering::SeqCst),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every
        // connection task.
        self.accept_loop.abort();
    }
}

/// SplitMix64: tiny, seedable, good enough to spread cut offsets.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `min..=max` (with a negligible modulo bias).
    fn between(&mut self, min: u64, max: u64) -> u64 {
        let span = max - min;
        if span == u64::MAX {
            return self.next();
        }
        min + self.next() % (span + 1)
    }
}

/// The fault decided for one connection.
#[derive(Clone, Copy, Debug)]
struct Injection {
    after_bytes: u64,
    fault: Fault,
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    plan: FaultPlan,
    counters: Arc<Counters>,
) {
    let mut rng = SplitMix64(plan.seed);
    let injected = Arc::new(Mutex::new(0u64));
    let mut connections = JoinSet::new();
    let mut accepted = 0u64;
    loop {
        let client = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => client,
                Err(_) => continue,
            },
            // Reap finished connection tasks so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        accepted += 1;
        counters.connections.fetch_add(1, Ordering::SeqCst);
        // Decide in accept order, so a seed gives the same plan each run.
        let injection = {
            let mut injected = injected.lock().expect("fault counter");
            let budget_left = plan.max_faults.is_none_or(|max| *injected < max);
            if accepted > plan.skip_connections && budget_left && !plan.kinds.is_empty() {
                *injected += 1;
                let after_bytes = rng.between(plan.cut_min, plan.cut_max);
                let kind = rng.between(0, plan.kinds.len() as u64 - 1) as usize;
                Some(Injection {
                    after_bytes,
                    fault: plan.kinds[kind],
                })
            } else {
                None
            }
        };
        let counters = counters.clone();
        let stall_for = plan.stall_for;
        connections.spawn(async move {
            let _ = client.set_nodelay(true);
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = server.set_nodelay(true);
            proxy_connection(client, server, injection, stall_for, &counters).await;
        });
    }
}

async fn proxy_connection(
    client: TcpStream,
    server: TcpStream,
    injection: Option<Injection>,
    stall_for: Duration,
    counters: &Counters,
) {
    let (client_read, mut client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let mut requests = tokio::spawn(forward_requests(client_read, server_write));
    let outcome = forward_responses(server_read, &mut client_write, injection, counters).await;
    match outcome {
        Outcome::Finished => {
            let _ = client_write.shutdown().await;
            // Let the client finish sending (or close); the request task
            // ends when it does.
            let _ = tokio::time::timeout(stall_for, &mut requests).await;
            requests.abort();
        }
        Outcome::Faulted(Fault::Close) => {
            counters.closes.fetch_add(1, Ordering::SeqCst);
            requests.abort();
            let _ = (&mut requests).await;
            let _ = client_write.shutdown().await;
        }
        Outcome::Faulted(Fault::Reset) => {
            counters.resets.fetch_add(1, Ordering::SeqCst);
            requests.abort();
            let _ = (&mut requests).await;
            // The read half is gone with the aborted task: dropping the
            // write half now closes the socket. `forget` skips the FIN a
            // dropped write half sends, so the close is an RST alone.
            let _ = client_write.as_ref().set_zero_linger();
            client_write.forget();
            return;
        }
        Outcome::Faulted(Fault::Stall) => {
            counters.stalls.fetch_add(1, Ordering::SeqCst);
            // Hold on until the client closes its side (the request task
            // then ends) or the stall limit passes.
            let _ = tokio::time::timeout(stall_for, &mut requests).await;
            requests.abort();
        }
    }
    drop(client_write);
}

enum Outcome {
    /// The upstream closed or failed, or the client went away.
    Finished,
    /// The byte budget ran out: inject this fault.
    Faulted(Fault),
}

async fn forward_requests(mut client_read: OwnedReadHalf, mut server_write: OwnedWriteHalf) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match client_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if server_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = server_write.shutdown().await;
}

async fn forward_responses(
    mut server_read: OwnedReadHalf,
    client_write: &mut OwnedWriteHalf,
    injection: Option<Injection>,
    counters: &Counters,
) -> Outcome {
    let mut budget = injection.map(|i| i.after_bytes);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let want = match budget {
            Some(0) => {
                return Outcome::Faulted(injection.map_or(Fault::Close, |i| i.fault));
            }
            Some(left) => buf.len().min(usize::try_from(left).unwrap_or(usize::MAX)),
            None => buf.len(),
        };
        let n = match server_read.read(&mut buf[..want]).await {
            Ok(0) | Err(_) => return Outcome::Finished,
            Ok(n) => n,
        };
        if client_write.write_all(&buf[..n]).await.is_err() {
            return Outcome::Finished;
        }
        counters
            .response_bytes
            .fetch_add(n as u64, Ordering::SeqCst);
        if let Some(left) = budget.as_mut() {
            *left -= n as u64;
        }
    }
}
