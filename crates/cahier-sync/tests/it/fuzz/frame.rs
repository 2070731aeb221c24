//! The frame decoder on raw bytes: the `frame` target of `cargo fuzz`
//! (`fuzz/`) and the normal test run, which replays the target's corpus
//! (`tests/corpus/frame`) through this same oracle.
//!
//! [`run`] decodes the bytes as one WebSocket frame; a message that decodes
//! must encode to bytes that decode to the same message, and its sync payload,
//! if any, goes through Automerge's decoder and [`cahier_sync::check`]. Then the
//! frame is sent to the router, by a connection that has not joined and by
//! one that has: whatever it holds, nothing panics and every answer is a
//! valid message.

use cahier_sync::wire::Message;
use cahier_sync::{AllowAll, Config, Hub, Input, Output};

/// Replays one input; panics when the oracle fails.
pub fn run(bytes: &[u8]) {
    if let Ok(msg) = Message::decode(bytes) {
        let again = Message::decode(&msg.encode()).expect("what the engine encodes decodes");
        assert_eq!(again, msg, "decode, encode, decode gives the same message");
        if let Message::Sync { data, .. } | Message::Request { data, .. } = &msg
            && let Ok(sync) = automerge::sync::Message::decode(data)
        {
            let _ = cahier_sync::check::sync_message(&sync);
        }
    }

    let mut hub = Hub::new(Config::new("server", "storage-1"), AllowAll);
    hub.handle(0, Input::Connected { conn: 1 });
    hub.handle(0, Input::Received { conn: 1, bytes: bytes.to_vec() });
    hub.handle(0, Input::Connected { conn: 2 });
    let join = Message::Join { sender_id: "peer-2".into(), supported_versions: None, metadata: None };
    hub.handle(0, Input::Received { conn: 2, bytes: join.encode() });
    hub.handle(0, Input::Received { conn: 2, bytes: bytes.to_vec() });
    for _ in 0..10 {
        let outs = hub.flush();
        if outs.is_empty() {
            break;
        }
        for out in outs {
            match out {
                Output::Load { doc } => hub.handle(0, Input::Loaded { doc, result: Ok(None) }),
                Output::Send { bytes, .. } => {
                    Message::decode(&bytes).expect("the engine sends valid messages");
                }
                _ => {}
            }
        }
    }
    assert!(!hub.stats().errors.contains_key("panic"), "a panic was caught: {:?}", hub.stats().errors);
}
