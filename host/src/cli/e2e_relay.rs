//! The fault-injecting relay of `spore e2e`: every node's peer traffic (QUIC over UDP)
//! passes through it on loopback, so the runner can cut, delay and drop it between
//! chosen nodes without touching the nodes or the clock.
//!
//! # Design
//! Node `i` listens on a private port `L_i`; the genesis advertises a relay port `A_i`.
//! The relay for node `i` receives on `A_i`; for each source (a peer's QUIC socket, which
//! is that peer's `L_j`, so the source names the peer) it has an upstream socket towards
//! `L_i` (bound when the relays start) and copies replies back to the source. Each datagram is looked up in the
//! [`Faults`]: dropped if the pair is cut or the loss draw says so, else delivered after
//! the pair's delay. The loss draw is a seeded generator, so a run is repeatable in what
//! it drops, not in when.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;

/// The faults in force, shared by every relay.
#[derive(Debug, Default)]
pub struct Faults {
    /// Unordered node pairs (by index) whose traffic is dropped.
    cut: BTreeSet<(usize, usize)>,
    /// Added one-way delay for every datagram.
    delay: Duration,
    /// Share of datagrams dropped, in percent (0..=100).
    loss_percent: u8,
    /// The loss draw's generator state.
    rng: u64,
}

impl Faults {
    /// Cut every link between a node of `side` and a node outside it (of `n`).
    pub fn partition(&mut self, side: &[usize], n: usize) {
        for a in side {
            for b in (0..n).filter(|b| !side.contains(b)) {
                self.cut.insert(((*a).min(b), (*a).max(b)));
            }
        }
    }

    /// Restore every link and remove delay and loss.
    pub fn heal(&mut self) {
        self.cut.clear();
        self.delay = Duration::ZERO;
        self.loss_percent = 0;
    }

    /// Delay every datagram by `delay`.
    pub fn set_delay(&mut self, delay: Duration) {
        self.delay = delay;
    }

    /// Drop `percent` of datagrams (capped at 100).
    pub fn set_loss(&mut self, percent: u8, seed: u64) {
        self.loss_percent = percent.min(100);
        self.rng = seed | 1;
    }

    /// What to do with a datagram between nodes `a` and `b`: `None` drops it, else the
    /// delay before delivering it.
    fn verdict(&mut self, a: usize, b: usize) -> Option<Duration> {
        if self.cut.contains(&(a.min(b), a.max(b))) {
            return None;
        }
        if self.loss_percent > 0 {
            // xorshift64
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            if self.rng % 100 < u64::from(self.loss_percent) {
                return None;
            }
        }
        Some(self.delay)
    }
}

/// The relays of a cluster: one per node.
pub struct Relays {
    /// The faults every relay applies.
    pub faults: Arc<Mutex<Faults>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Relays {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Largest datagram relayed (QUIC's are at most about 1,500 bytes on loopback paths
/// that peers probe; 64 KiB covers any UDP datagram).
const MAX_DATAGRAM: usize = 65_536;

impl Relays {
    /// Start relays: node `i` is reached at `advertised[i]` and listens on `private[i]`.
    /// Upstream sockets come from `ports`, which holds the private ports (and avoids the
    /// cluster's), so none of them can take a port a node is about to listen on.
    pub(crate) async fn start(
        advertised: &[SocketAddr],
        private: &[SocketAddr],
        ports: &mut crate::node::cluster::Ports,
    ) -> anyhow::Result<Self> {
        let faults = Arc::new(Mutex::new(Faults::default()));
        let mut tasks = Vec::new();
        let peers: Arc<Vec<SocketAddr>> = Arc::new(private.to_vec());
        for (i, (a, p)) in advertised.iter().zip(private).enumerate() {
            let socket = Arc::new(UdpSocket::bind(a).await?);
            // Every upstream socket is bound now, outside every port of the cluster:
            // bound later on port 0 (at a pair's first datagram, or while a node was
            // killed), it could be handed the port a restarting node is about to take.
            let mut upstream = HashMap::new();
            for (j, source) in private.iter().enumerate().filter(|(j, _)| *j != i) {
                let up = ports.udp_socket()?;
                up.set_nonblocking(true)?;
                let up = Arc::new(UdpSocket::from_std(up)?);
                tasks.push(tokio::spawn(replies(
                    i,
                    j,
                    up.clone(),
                    socket.clone(),
                    *source,
                    faults.clone(),
                )));
                upstream.insert(*source, up);
            }
            tasks.push(tokio::spawn(relay(
                i,
                socket,
                *p,
                peers.clone(),
                upstream,
                faults.clone(),
            )));
        }
        Ok(Self { faults, tasks })
    }
}

/// The node index a private address belongs to.
fn node_of(peers: &[SocketAddr], addr: SocketAddr) -> Option<usize> {
    peers.iter().position(|p| *p == addr)
}

/// Relay for node `me`: datagrams to `front` go to `target` through the upstream socket
/// of their source (one per peer, bound at start).
async fn relay(
    me: usize,
    front: Arc<UdpSocket>,
    target: SocketAddr,
    peers: Arc<Vec<SocketAddr>>,
    upstream: HashMap<SocketAddr, Arc<UdpSocket>>,
    faults: Arc<Mutex<Faults>>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let Ok((len, source)) = front.recv_from(&mut buf).await else {
            continue;
        };
        // Only the nodes' own sockets are relayed: anything else on loopback is dropped.
        let (Some(peer), Some(up)) = (node_of(&peers, source), upstream.get(&source)) else {
            continue;
        };
        let verdict = lock(&faults).verdict(peer, me);
        if let Some(delay) = verdict {
            let (data, up) = (buf[..len].to_vec(), up.clone());
            if delay.is_zero() {
                let _ = up.send_to(&data, target).await;
            } else {
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = up.send_to(&data, target).await;
                });
            }
        }
    }
}

/// Replies from node `me` to peer `peer` (at `source`), read on their upstream socket
/// and sent back through `front`.
async fn replies(
    me: usize,
    peer: usize,
    up: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    source: SocketAddr,
    faults: Arc<Mutex<Faults>>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let Ok((len, _)) = up.recv_from(&mut buf).await else {
            continue;
        };
        let verdict = lock(&faults).verdict(me, peer);
        deliver(&front, source, buf[..len].to_vec(), verdict);
    }
}

fn deliver(socket: &Arc<UdpSocket>, to: SocketAddr, data: Vec<u8>, verdict: Option<Duration>) {
    let Some(delay) = verdict else {
        return;
    };
    let socket = socket.clone();
    tokio::spawn(async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let _ = socket.send_to(&data, to).await;
    });
}

fn lock(faults: &Mutex<Faults>) -> std::sync::MutexGuard<'_, Faults> {
    faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_cuts_only_across_sides_and_heal_restores() {
        let mut f = Faults::default();
        f.partition(&[0, 1], 4);
        assert_eq!(f.verdict(0, 1), Some(Duration::ZERO));
        assert_eq!(f.verdict(2, 3), Some(Duration::ZERO));
        assert_eq!(f.verdict(0, 2), None);
        assert_eq!(f.verdict(3, 1), None);
        f.heal();
        assert_eq!(f.verdict(0, 2), Some(Duration::ZERO));
    }

    #[test]
    fn loss_drops_about_its_share_and_delay_applies() {
        let mut f = Faults::default();
        f.set_loss(30, 7);
        f.set_delay(Duration::from_millis(5));
        let dropped = (0..10_000).filter(|_| f.verdict(0, 1).is_none()).count();
        assert!((2_500..3_500).contains(&dropped), "{dropped}");
        assert_eq!(
            f.verdict(0, 1).or(f.verdict(0, 1)),
            Some(Duration::from_millis(5))
        );
    }
}
