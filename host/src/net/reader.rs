//! The receiving side: the accept loop, and one reader task per incoming stream.
//!
//! # Design
//! Every accepted connection has passed the membership verifier; its peer id comes from
//! the verified certificate. Each incoming unidirectional stream gets a task that decodes
//! frames into the node's bounded incoming channel (a full channel stops reading, which
//! QUIC flow control turns into backpressure on the sender). A bad frame stops that
//! stream with [`ERR_BAD_FRAME`] and is counted; the connection and the node go on.

use std::sync::Arc;

use quinn::VarInt;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::endpoint::{ERR_NOT_MEMBER, Shared};
use super::frame::{self, ERR_BAD_FRAME, LEN_PREFIX};
use super::identity::node_id_from_certificate;
use crate::core::types::NodeId;

/// Accepts incoming connections until shutdown.
pub(super) async fn accept_loop<M>(shared: Arc<Shared>, tx: mpsc::Sender<(NodeId, M)>)
where
    M: DeserializeOwned + Send + 'static,
{
    let mut stop = shared.shutdown.subscribe();
    loop {
        let incoming = tokio::select! {
            i = shared.endpoint.accept() => i,
            _ = stop.changed() => return,
        };
        let Some(incoming) = incoming else { return };
        shared
            .runtime
            .spawn(serve_connection(shared.clone(), incoming, tx.clone()));
    }
}

/// The member behind an established connection, from its verified certificate.
fn peer_of(conn: &quinn::Connection) -> Option<NodeId> {
    let certs = conn
        .peer_identity()?
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    node_id_from_certificate(certs.first()?).ok()
}

/// Completes the handshake of an incoming connection and reads every stream it opens.
async fn serve_connection<M>(
    shared: Arc<Shared>,
    incoming: quinn::Incoming,
    tx: mpsc::Sender<(NodeId, M)>,
) where
    M: DeserializeOwned + Send + 'static,
{
    let conn = match incoming.await {
        Ok(conn) => conn,
        Err(e) => {
            // Refusals by our verifier are counted there; this is only logged.
            debug!(error = %e, "incoming handshake failed");
            return;
        }
    };
    let Some(peer) = peer_of(&conn) else {
        conn.close(VarInt::from_u32(ERR_NOT_MEMBER), b"no identity");
        return;
    };
    shared.register_inbound(peer, conn.clone());
    debug!(%peer, "accepted connection");
    while let Ok(recv) = conn.accept_uni().await {
        shared
            .runtime
            .spawn(read_stream(shared.clone(), peer, recv, tx.clone()));
    }
    shared.unregister_inbound(&peer, conn.stable_id());
}

/// Reads frames from one stream until it ends or carries a bad frame.
async fn read_stream<M>(
    shared: Arc<Shared>,
    peer: NodeId,
    mut recv: quinn::RecvStream,
    tx: mpsc::Sender<(NodeId, M)>,
) where
    M: DeserializeOwned + Send + 'static,
{
    let max = shared.config.max_frame_bytes;
    let mut buf = Vec::new();
    loop {
        match frame::read_frame::<_, M>(&mut recv, max, &mut buf).await {
            Ok(Some(msg)) => {
                if !shared.membership.contains(&peer) {
                    shared.metrics.non_member();
                    let _ = recv.stop(VarInt::from_u32(ERR_NOT_MEMBER));
                    return;
                }
                shared.metrics.frame_in(buf.len() + LEN_PREFIX);
                if tx.send((peer, msg)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                match e.rejection() {
                    Some(why) => {
                        shared.metrics.rejected(why);
                        warn!(%peer, error = %e, "bad frame; closing the stream");
                        let _ = recv.stop(VarInt::from_u32(ERR_BAD_FRAME));
                    }
                    None => debug!(%peer, error = %e, "stream ended"),
                }
                return;
            }
        }
    }
}
