//! What a peer may say about itself in automerge-repo's presence messages.
//!
//! Presence rides on ephemeral messages: a CBOR map whose `__presence` entry
//! holds `{type: "snapshot", state: {…}}` or `{type: "update", channel, value}`
//! (heartbeats and goodbyes carry nothing). Cahier's editor puts three fields
//! in that state: `name` (shown beside the caret and in "Présents"), `who`
//! (`account:NAME` or `guest:NAME`, one entry per person) and `color` (put in
//! a style by every other editor). The router relays a peer's presence only
//! when the name and `who` are the connection's own and the colour is a plain
//! colour, so nobody appears as someone else and no stray CSS reaches others.
//! Other keys and other ephemeral messages pass unread.

use minicbor::Decoder;
use minicbor::data::Type;

/// Who a connection is, as its presence must say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The name history and credits show.
    pub name: String,
    /// `account:NAME` or `guest:NAME`.
    pub who: String,
}

/// `Err` names what is wrong with a presence message; `Ok` for anything that
/// is not presence. `identity` is `None` when the policy knows no names (then
/// only the colour is checked).
pub fn check(data: &[u8], identity: Option<&Identity>) -> Result<(), String> {
    let mut d = Decoder::new(data);
    let Some(mut envelope) = map_entries(&mut d) else { return Ok(()) };
    while let Some(key) = envelope.next_key(&mut d) {
        if key != "__presence" {
            skip(&mut d)?;
            continue;
        }
        let Some(mut message) = map_entries(&mut d) else { return Err("presence is not a map".into()) };
        // Clients read the map as a whole, the last of repeated keys winning,
        // whatever their order: the value is checked once the channel it
        // belongs to is known.
        let (mut channel, mut value): (Option<String>, Option<std::ops::Range<usize>>) = (None, None);
        while let Some(key) = message.next_key(&mut d) {
            match key.as_str() {
                "state" => {
                    let Some(mut state) = map_entries(&mut d) else { return Err("presence state is not a map".into()) };
                    while let Some(field) = state.next_key(&mut d) {
                        field_value(&mut d, &field, identity)?;
                    }
                }
                "channel" => {
                    let start = d.position();
                    channel = d.str().ok().map(str::to_owned);
                    if channel.is_none() {
                        d.set_position(start);
                        skip(&mut d)?;
                    }
                }
                "value" => {
                    let start = d.position();
                    skip(&mut d)?;
                    value = Some(start..d.position());
                }
                _ => skip(&mut d)?,
            }
        }
        if let (Some(field), Some(range)) = (channel, value) {
            field_value(&mut Decoder::new(&data[range]), &field, identity)?;
        }
    }
    Ok(())
}

/// Checks one field of a peer's state (`field` is its key), consuming it.
fn field_value(d: &mut Decoder<'_>, field: &str, identity: Option<&Identity>) -> Result<(), String> {
    match field {
        "name" | "who" | "color" => {
            let value = d.str().map_err(|_| format!("presence {field} is not text"))?;
            let expected = identity.map(|i| if field == "name" { &i.name } else { &i.who });
            match (field, expected) {
                ("color", _) if !is_plain_colour(value) => Err(format!("presence colour {value:?} is not a colour")),
                ("name" | "who", Some(own)) if value != own => Err(format!("presence names {value:?}, but this connection is {own:?}")),
                _ => Ok(()),
            }
        }
        _ => skip(d),
    }
}

fn skip(d: &mut Decoder<'_>) -> Result<(), String> {
    d.skip().map_err(|_| "presence is not valid CBOR".to_owned())
}

/// A definite or indefinite map, read key by key.
struct Entries {
    left: Option<u64>,
}

fn map_entries(d: &mut Decoder<'_>) -> Option<Entries> {
    if d.datatype().ok()? != Type::Map && d.datatype().ok()? != Type::MapIndef {
        return None;
    }
    d.map().ok().map(|left| Entries { left })
}

impl Entries {
    /// The next text key; other keys are skipped with their values. `None` at the end.
    fn next_key(&mut self, d: &mut Decoder<'_>) -> Option<String> {
        loop {
            match &mut self.left {
                Some(0) => return None,
                Some(n) => *n -= 1,
                None if d.datatype().ok()? == Type::Break => {
                    d.skip().ok()?;
                    return None;
                }
                None => {}
            }
            if d.datatype().ok()? == Type::String {
                return d.str().ok().map(str::to_owned);
            }
            d.skip().ok()?;
            d.skip().ok()?;
        }
    }
}

/// `#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`, or `hsl(H S% L%)` with whole
/// numbers: what Cahier's editors send, and nothing that can leave a CSS value.
pub fn is_plain_colour(s: &str) -> bool {
    if let Some(hex) = s.strip_prefix('#') {
        return matches!(hex.len(), 3 | 4 | 6 | 8) && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    let Some(inner) = s.strip_prefix("hsl(").and_then(|r| r.strip_suffix(')')) else { return false };
    let parts: Vec<&str> = inner.split(' ').collect();
    let number = |p: &str| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
    matches!(parts.as_slice(), [h, s, l] if number(h) && s.strip_suffix('%').is_some_and(number) && l.strip_suffix('%').is_some_and(number))
}
