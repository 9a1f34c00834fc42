//! `enroll`: a client presents an invite token and is added to the
//! authorized clients. The one request a server takes from a client it does
//! not know yet (see `connection.rs`); an admitted client may send it too
//! (to be listed on a server that admits anyone, or to learn its name).

use std::sync::Arc;

use ferry_net::SendHalf;
use ferry_proto::{ErrorCode, Response, WireError};
use ferry_trust::Access;

use super::{reply, Outcome};
use crate::{clients::Clients, context::Peer};

pub(crate) async fn serve<S: SendHalf>(
    clients: Option<&Arc<Clients>>,
    peer: &Peer,
    token: String,
    name: Option<String>,
    send: &mut S,
) -> Outcome {
    let clients = clients.ok_or_else(|| {
        WireError::new(ErrorCode::Protocol, "this server takes no enrollments here")
    })?;
    let fp = peer.fingerprint.ok_or_else(|| {
        WireError::new(
            ErrorCode::Unauthorized,
            "enrolling needs a client certificate, which ferry clients present on their own",
        )
    })?;
    let client = clients.enroll(peer.addr.ip(), fp, token, name).await?;
    reply(
        send,
        &Response::Enrolled {
            name: client.name,
            read_only: client.access == Access::ReadOnly,
        },
    )
    .await
}
