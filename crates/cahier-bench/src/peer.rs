//! Clients of an automerge-repo sync server: [`Peer`], a whole Automerge
//! document synced as a browser does, and [`Thin`], a typist that sends real
//! changes and acknowledges what the server sends without materialising it.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ChangeHash, ReadDoc};
use cahier_sync::wire::Message;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as Frame;

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a socket and does the `join`/`peer` handshake; returns the server's peer id.
pub async fn handshake(url: &str, name: &str) -> anyhow::Result<(Ws, String)> {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await.with_context(|| format!("connect {url}"))?;
    let join = Message::Join { sender_id: name.into(), supported_versions: Some(vec!["1".into()]), metadata: None };
    ws.send(Frame::Binary(join.encode().into())).await?;
    loop {
        match ws.next().await {
            Some(Ok(Frame::Binary(b))) => match Message::decode(&b)? {
                Message::Peer { sender_id, .. } => return Ok((ws, sender_id)),
                other => bail!("expected peer, got {other:?}"),
            },
            Some(Ok(_)) => continue,
            other => bail!("connection ended during the handshake: {other:?}"),
        }
    }
}

/// A whole Automerge document synced with the server.
pub struct Peer {
    pub name: String,
    pub ws: Ws,
    pub doc: Automerge,
    pub state: sync::State,
    pub doc_id: String,
    pub server: String,
}

impl Peer {
    pub async fn connect(url: &str, name: &str, doc: Automerge, doc_id: &str) -> anyhow::Result<Peer> {
        let (ws, server) = handshake(url, name).await?;
        Ok(Peer { name: name.into(), ws, doc, state: sync::State::new(), doc_id: doc_id.into(), server })
    }

    pub async fn send_sync(&mut self) -> anyhow::Result<bool> {
        let Some(m) = self.doc.generate_sync_message(&mut self.state) else { return Ok(false) };
        let msg = if self.doc.get_heads().is_empty() {
            Message::Request {
                sender_id: self.name.clone(),
                target_id: self.server.clone(),
                document_id: self.doc_id.clone(),
                data: m.encode(),
            }
        } else {
            Message::Sync {
                sender_id: self.name.clone(),
                target_id: self.server.clone(),
                document_id: self.doc_id.clone(),
                data: m.encode(),
            }
        };
        self.ws.send(Frame::Binary(msg.encode().into())).await?;
        Ok(true)
    }

    /// Applies one incoming frame and answers it.
    pub async fn on_frame(&mut self, frame: Frame) -> anyhow::Result<()> {
        if let Frame::Binary(b) = frame {
            match Message::decode(&b)? {
                Message::Sync { data, .. } => {
                    self.doc.receive_sync_message(&mut self.state, sync::Message::decode(&data)?)?;
                    self.send_sync().await?;
                }
                Message::DocUnavailable { .. } => bail!("the server says document {} is unavailable", self.doc_id),
                Message::Error { message } => bail!("server error: {message}"),
                _ => {}
            }
        }
        Ok(())
    }

    /// Sends the document and waits until the server says it holds all of it.
    pub async fn push(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        self.send_sync().await?;
        let heads = self.doc.get_heads();
        while self.state.their_heads.as_ref() != Some(&heads) {
            let left = timeout.checked_sub(start.elapsed()).context("the server did not take the document in time")?;
            let frame = tokio::time::timeout(left, self.ws.next()).await.context("the server did not take the document in time")?;
            self.on_frame(frame.context("closed")??).await?;
        }
        Ok(())
    }

    /// Requests the document (this peer's is empty) and waits until it holds `heads`.
    pub async fn fetch(&mut self, heads: Option<&[ChangeHash]>, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        self.send_sync().await?;
        loop {
            let done = match heads {
                Some(h) => self.doc.get_missing_deps(h).is_empty(),
                None => self.state.their_heads.as_ref().is_some_and(|t| !t.is_empty() && *t == self.doc.get_heads()),
            };
            if done {
                return Ok(());
            }
            let left = timeout.checked_sub(start.elapsed()).context("the document did not arrive in time")?;
            let frame = tokio::time::timeout(left, self.ws.next()).await.context("the document did not arrive in time")?;
            self.on_frame(frame.context("closed")??).await?;
        }
    }
}

/// A typist as the server sees it: it sends real Automerge changes in real
/// sync messages, and acknowledges the server's heads, but does not apply what
/// it receives (a load tool cannot afford hundreds of whole documents). Its
/// own changes depend only on its own earlier ones: concurrent with everyone
/// else's, as a slow co-writer's are.
pub struct Thin {
    pub name: String,
    pub ws: Ws,
    server: String,
    doc_id: String,
    /// The heads the server last reported.
    server_heads: Vec<ChangeHash>,
    /// Own changes the server's reported heads may not cover yet.
    own_unacked: Vec<ChangeHash>,
    /// Whether to tell the server, in a Bloom filter, which changes this typist
    /// already has. A false positive there makes the server hold back a change
    /// of someone else's for good (a whole peer would notice the missing
    /// dependency and ask; a thin one cannot), so typists that measure what
    /// they receive leave it empty, and the server echoes their own changes once.
    pub bloom: bool,
}

impl Thin {
    pub async fn connect(url: &str, name: &str, doc_id: &str, known_heads: Vec<ChangeHash>) -> anyhow::Result<Thin> {
        let (ws, server) = handshake(url, name).await?;
        Ok(Thin { name: name.into(), ws, server, doc_id: doc_id.into(), server_heads: known_heads, own_unacked: Vec::new(), bloom: true })
    }

    /// Sends changes (possibly none: then it only reports its heads).
    pub async fn send(&mut self, changes: Vec<Vec<u8>>, hashes: &[ChangeHash]) -> anyhow::Result<()> {
        self.own_unacked.extend_from_slice(hashes);
        let mut heads = self.server_heads.clone();
        if let Some(last) = self.own_unacked.last()
            && !heads.contains(last)
        {
            heads.push(*last);
        }
        heads.sort();
        let message = sync::Message {
            heads,
            need: Vec::new(),
            have: vec![sync::Have {
                last_sync: self.server_heads.clone(),
                bloom: if self.bloom { sync::BloomFilter::from_hashes(self.own_unacked.iter()) } else { sync::BloomFilter::default() },
            }],
            changes: sync::ChunkList::from(changes),
            flags: None,
            version: sync::MessageVersion::V1,
        };
        let msg = Message::Sync {
            sender_id: self.name.clone(),
            target_id: self.server.clone(),
            document_id: self.doc_id.clone(),
            data: message.encode(),
        };
        self.ws.send(Frame::Binary(msg.encode().into())).await?;
        Ok(())
    }

    /// Whether the server's reported heads hold `hash` (one of this typist's changes).
    pub fn acknowledges(&self, hash: &ChangeHash) -> bool {
        self.server_heads.contains(hash)
    }

    /// Reads frames until the server reports heads holding `hash`.
    pub async fn wait_acked(&mut self, hash: &ChangeHash, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        while !self.acknowledges(hash) {
            let left = timeout.checked_sub(start.elapsed()).context("no acknowledgement in time")?;
            let frame = tokio::time::timeout(left, self.ws.next()).await.context("no acknowledgement in time")?;
            self.on_frame(frame.context("the server closed the connection")??)?;
        }
        Ok(())
    }

    /// Takes one incoming frame; returns the sync message it carried, if any.
    pub fn on_frame(&mut self, frame: Frame) -> anyhow::Result<Option<sync::Message>> {
        let Frame::Binary(b) = frame else { return Ok(None) };
        match Message::decode(&b)? {
            Message::Sync { data, .. } => {
                let m = sync::Message::decode(&data)?;
                if !m.heads.is_empty() {
                    self.server_heads = m.heads.clone();
                    if self.own_unacked.last().is_some_and(|h| self.server_heads.contains(h)) {
                        self.own_unacked.clear();
                    }
                }
                Ok(Some(m))
            }
            Message::DocUnavailable { .. } => bail!("the server says document {} is unavailable", self.doc_id),
            Message::Error { message } => bail!("server error: {message}"),
            _ => Ok(None),
        }
    }
}
