//! The transport's byte budget of frames read and not yet taken by the node, on loopback.
//! A test binary of its own: it keeps several connections busy with large frames for
//! seconds, which made a neighbour in `tests/net.rs` (a throughput figure waiting for its
//! first message) miss its deadline when they ran side by side.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use spore::core::types::NodeId;
use spore::net::{NetMetrics, NodeIdentity, QuicTransport, TransportConfig};

mod net_common;
use net_common::{Msg, PATIENCE, config, key};

fn bind(seed: u8) -> Result<QuicTransport<Msg>> {
    Ok(QuicTransport::bind(
        NodeIdentity::new(&key(seed))?,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        [],
        config(),
    )?)
}

fn connect_all(nodes: &[&QuicTransport<Msg>]) -> Result<()> {
    let members = nodes
        .iter()
        .map(|t| Ok((t.node_id(), t.local_addr()?)))
        .collect::<Result<Vec<(NodeId, SocketAddr)>>>()?;
    for t in nodes {
        t.update_membership(members.clone());
    }
    Ok(())
}

async fn next(t: &mut QuicTransport<Msg>) -> Result<(NodeId, Msg)> {
    tokio::time::timeout(PATIENCE, t.recv())
        .await
        .context("gave up waiting for a message")?
        .context("transport closed")
}

async fn until(
    metrics: &NetMetrics,
    what: &str,
    done: impl Fn(&spore::net::NetMetricsSnapshot) -> bool,
) -> Result<()> {
    tokio::time::timeout(PATIENCE, async {
        while !done(&metrics.snapshot()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .with_context(|| format!("gave up waiting for {what}"))
}

fn bind_budget(seed: u8, per_peer: usize) -> Result<QuicTransport<Msg>> {
    Ok(QuicTransport::bind(
        NodeIdentity::new(&key(seed))?,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        [],
        TransportConfig {
            incoming_bytes_per_peer: per_peer,
            // Frames of at most 1 MiB, so a budget of 33 MiB (one such frame's charge)
            // is not raised.
            max_frame_bytes: 1024 * 1024,
            ..config()
        },
    )?)
}

/// Sends 48 frames of 128 KiB (each charged 4 MiB: 32 times, the worst decoded size)
/// from `a` to a receiver that takes nothing for a second after the first arrived,
/// and returns the most bytes the receiver held meanwhile; then takes them all (none
/// lost, in order) and checks that `c`, another member, got through while `a` waited.
async fn held_while_not_taking(per_peer: usize, seeds: (u8, u8, u8)) -> Result<u64> {
    let (a, mut b, c) = (
        bind(seeds.0)?,
        bind_budget(seeds.1, per_peer)?,
        bind(seeds.2)?,
    );
    connect_all(&[&a, &b, &c])?;
    a.send(b.node_id(), &Msg::Ping(0))?;
    next(&mut b).await?;
    let to = b.node_id();
    const FRAMES: u64 = 48;
    let sender = tokio::spawn(async move {
        for i in 0..FRAMES {
            let mut data = vec![0u8; 128 * 1024];
            data[..8].copy_from_slice(&i.to_le_bytes());
            a.send_wait(to, &Msg::Data(data)).await?;
        }
        anyhow::Ok(a)
    });
    // The first large frame takes a while on a fresh connection (congestion window).
    until(&b.metrics(), "the first data frame", |m| m.frames_in >= 2).await?;
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        most = most.max(b.metrics().incoming_held());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    c.send(to, &Msg::Ping(7))?;
    let mut seen = 0u64;
    let mut ping_after = None;
    while seen < FRAMES || ping_after.is_none() {
        match next(&mut b).await? {
            (_, Msg::Data(d)) => {
                let i = u64::from_le_bytes(d[..8].try_into()?);
                assert_eq!(i, seen, "frames arrive in order, none lost");
                seen += 1;
            }
            (_, Msg::Ping(7)) => ping_after = Some(seen),
            other => bail!("unexpected {other:?}"),
        }
        most = most.max(b.metrics().incoming_held());
    }
    let _a = sender.await??;
    assert_eq!(
        b.metrics().incoming_held(),
        0,
        "taken frames give their bytes back"
    );
    if per_peer < 64 * 1024 * 1024 {
        // The budgeted sender was still waiting when the other member's ping came.
        assert!(
            ping_after < Some(FRAMES),
            "ping after {ping_after:?} frames"
        );
    }
    Ok(most)
}

/// A member sending large frames faster than the node takes them is held to its byte
/// budget (the reader waits before reading a body; QUIC flow control stops the sender),
/// other members' frames keep flowing, and nothing is lost. The control: with a budget
/// above what is sent, the same traffic makes the receiver hold several times more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_is_held_to_its_incoming_byte_budget() -> Result<()> {
    let budget = 33 * 1024 * 1024;
    let bounded = held_while_not_taking(budget, (70, 71, 72)).await?;
    assert!(bounded > 0 && bounded <= budget as u64, "held {bounded}");
    let unbounded = held_while_not_taking(1024 * 1024 * 1024, (73, 74, 75)).await?;
    assert!(
        unbounded > 2 * budget as u64,
        "control held only {unbounded}"
    );
    println!("held at most {bounded} bytes within the budget, {unbounded} without it");
    Ok(())
}
