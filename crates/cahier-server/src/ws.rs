//! One task per WebSocket connection: frames in to the hub, messages out from it,
//! pings to find dead peers.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::ServerConfig;
use crate::hub_task::{HubEvent, HubHandle, Outbound};
use cahier_sync::Input;

pub async fn handle_socket(
    socket: WebSocket,
    hub: HubHandle,
    config: Arc<ServerConfig>,
    shutdown: CancellationToken,
    principal: cahier_auth::Principal,
    credential: Option<crate::access::Credential>,
    principals: crate::access::Principals,
) {
    let conn = hub.next_conn();
    let (tx, mut rx) = mpsc::channel(config.max_outbound_queue);
    let kill = CancellationToken::new();
    principals.insert(conn, principal, credential, crate::access::Closer { out: tx.clone(), kill: kill.clone() });
    if hub.tx.send(HubEvent::Connect { conn, tx, kill: kill.clone() }).await.is_err() {
        principals.remove(conn);
        return;
    }
    let span = tracing::info_span!("conn", conn_id = conn);
    let _enter = span.enter();
    let (mut sink, mut stream) = socket.split();
    let mut ping = tokio::time::interval(config.keepalive);
    ping.tick().await;
    let mut alive = true;
    let close =
        |code: u16, reason: &str| Message::Close(Some(CloseFrame { code, reason: reason.chars().take(100).collect::<String>().into() }));
    loop {
        tokio::select! {
            biased;
            _ = kill.cancelled() => {
                let _ = sink.send(close(close_code::POLICY, "too slow: messages to this client piled up")).await;
                break;
            }
            _ = shutdown.cancelled() => {
                // Drain what the hub still has for us (its own close frame among it).
                while let Ok(out) = rx.try_recv() {
                    if let Outbound::Bytes(b) = out {
                        let _ = sink.send(Message::Binary(b.into())).await;
                    }
                }
                let _ = sink.send(close(close_code::AWAY, "server shutting down")).await;
                break;
            }
            out = rx.recv() => match out {
                Some(Outbound::Bytes(b)) => {
                    if sink.send(Message::Binary(b.into())).await.is_err() {
                        break;
                    }
                }
                Some(Outbound::Close(reason)) => {
                    let code = if reason == "leave" { close_code::NORMAL } else { close_code::POLICY };
                    let _ = sink.send(close(code, &reason)).await;
                    break;
                }
                None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    alive = true;
                    if hub.tx.send(HubEvent::Input(Input::Received { conn, bytes: b.to_vec() })).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Text(_))) => {
                    let _ = hub.tx.send(HubEvent::Input(Input::ReceivedText { conn })).await;
                }
                Some(Ok(Message::Pong(_) | Message::Ping(_))) => alive = true,
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(e)) => {
                    // tungstenite refuses frames over its limit before we see them.
                    let text = e.to_string();
                    tracing::info!(cause = %text, "websocket error");
                    let reason = if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
                        format!("message too large: the limit is {} bytes", config.limits.max_message_bytes)
                    } else {
                        "websocket protocol error".to_owned()
                    };
                    let _ = sink.send(close(close_code::SIZE, &reason)).await;
                    break;
                }
            },
            _ = ping.tick() => {
                if !alive {
                    tracing::info!("peer did not answer the last ping; dropping it");
                    break;
                }
                alive = false;
                if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = hub.tx.send(HubEvent::Input(Input::Disconnected { conn })).await;
    principals.remove(conn);
}
