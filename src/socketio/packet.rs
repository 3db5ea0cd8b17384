//! Engine.IO v4 and Socket.IO v5 packets as text (feathers-protocol §2; binary packets
//! are not spoken: Feathers sends none, and one closes the connection).
//!
//! An Engine.IO packet is a type digit and its data: `0` open, `1` close, `2` ping,
//! `3` pong, `4` message, `5` upgrade, `6` noop. A message carries a Socket.IO packet:
//! a type digit (`0` CONNECT, `1` DISCONNECT, `2` EVENT, `3` ACK, `4` CONNECT_ERROR),
//! then `/namespace,` unless it is `/`, then an ack id, then JSON.

use bytes::Bytes;

use super::wire::Frame;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// What a client sent, as Engine.IO packets.
#[derive(Debug, PartialEq)]
pub enum Inbound<'a> {
    Close,
    Ping(&'a str),
    Pong(&'a str),
    Upgrade,
    Noop,
    Message(Message<'a>),
}

/// A Socket.IO packet from a client. Namespaces other than `/` are named so they can be
/// refused; acks of server emits are never asked for, so they are dropped as read.
#[derive(Debug, PartialEq)]
pub enum Message<'a> {
    Connect {
        namespace: &'a str,
    },
    Disconnect {
        namespace: &'a str,
    },
    /// `args`: the arguments after the name, or why they are not JSON values (nested
    /// deeper than the parser goes: the event is answered, not the connection closed).
    Event {
        namespace: &'a str,
        ack: Option<u64>,
        name: String,
        args: Result<Vec<Value>, String>,
    },
    Ack,
}

/// Why a packet could not be read (the connection is closed for it).
#[derive(Debug, PartialEq)]
pub struct Malformed(pub &'static str);

/// Reads one Engine.IO packet.
pub fn decode(text: &str) -> Result<Inbound<'_>, Malformed> {
    let mut chars = text.char_indices();
    let Some((_, kind)) = chars.next() else {
        return Err(Malformed("empty packet"));
    };
    let data = &text[kind.len_utf8()..];
    match kind {
        '1' => Ok(Inbound::Close),
        '2' => Ok(Inbound::Ping(data)),
        '3' => Ok(Inbound::Pong(data)),
        '4' => decode_message(data).map(Inbound::Message),
        '5' => Ok(Inbound::Upgrade),
        '6' => Ok(Inbound::Noop),
        _ => Err(Malformed("unknown Engine.IO packet type")),
    }
}

fn decode_message(text: &str) -> Result<Message<'_>, Malformed> {
    let Some(&kind) = text.as_bytes().first() else {
        return Err(Malformed("empty Socket.IO packet"));
    };
    if !kind.is_ascii_digit() {
        return Err(Malformed("unknown Socket.IO packet type"));
    }
    let mut rest = &text[1..];
    let namespace = match rest.strip_prefix('/') {
        Some(_) => {
            let end = rest.find(',').unwrap_or(rest.len());
            let namespace = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or("");
            namespace
        }
        None => "/",
    };
    match kind {
        b'0' => {
            // An auth payload, when sent, must be an object (Feathers sends none).
            if !rest.is_empty() && !matches!(serde_json::from_str(rest), Ok(Value::Object(_))) {
                return Err(Malformed("CONNECT payload is not an object"));
            }
            Ok(Message::Connect { namespace })
        }
        b'1' => Ok(Message::Disconnect { namespace }),
        b'2' => {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let ack = match digits {
                0 => None,
                _ => Some(
                    rest[..digits]
                        .parse::<u64>()
                        .map_err(|_| Malformed("ack id out of range"))?,
                ),
            };
            // Read as raw JSON first: its syntax is checked at any depth, without recursion.
            let raw: Vec<&RawValue> = serde_json::from_str(&rest[digits..])
                .map_err(|_| Malformed("EVENT payload is not a JSON array"))?;
            let Some((name, args)) = raw.split_first() else {
                return Err(Malformed("EVENT without a name"));
            };
            let name: String =
                serde_json::from_str(name.get()).map_err(|_| Malformed("EVENT without a name"))?;
            let args = args
                .iter()
                .map(|arg| serde_json::from_str(arg.get()))
                .collect::<Result<Vec<Value>, _>>()
                .map_err(|e| e.to_string());
            Ok(Message::Event {
                namespace,
                ack,
                name,
                args,
            })
        }
        b'3' => {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || !rest[digits..].starts_with('[') {
                return Err(Malformed("ACK without an id and an array"));
            }
            Ok(Message::Ack)
        }
        b'5' | b'6' => Err(Malformed("binary packets are not supported")),
        _ => Err(Malformed("unknown Socket.IO packet type")),
    }
}

/// The Engine.IO packets a server sends that carry no data.
pub const PING: &[u8] = b"2";
pub const NOOP: &[u8] = b"6";
pub const CLOSE: &[u8] = b"1";
pub const PROBE_ANSWER: &[u8] = b"3probe";
/// Socket.IO DISCONNECT of `/`: the server ends the socket.
pub const DISCONNECT: &[u8] = b"41";

/// The Engine.IO open packet.
pub fn open(sid: &str, upgrades: bool, ping_ms: u64, timeout_ms: u64, max_payload: usize) -> Bytes {
    let upgrades: &[&str] = if upgrades { &["websocket"] } else { &[] };
    let body = serde_json::json!({
        "sid": sid,
        "upgrades": upgrades,
        "pingInterval": ping_ms,
        "pingTimeout": timeout_ms,
        "maxPayload": max_payload,
    });
    Bytes::from(format!("0{body}"))
}

/// `40{"sid":...}`: the namespace `/` is joined.
pub fn connected(sid: &str) -> Bytes {
    Bytes::from(format!("40{}", serde_json::json!({ "sid": sid })))
}

/// `44{"message":...}`: joining a namespace is refused.
pub fn connect_error(namespace: &str, message: &str) -> Bytes {
    let body = serde_json::json!({ "message": message });
    match namespace {
        "/" => Bytes::from(format!("44{body}")),
        namespace => Bytes::from(format!("44{namespace},{body}")),
    }
}

/// `42["<name>",<payload>]`: an event to the client, framed once however many sockets it
/// goes to.
pub fn event(name: &str, payload: &(impl Serialize + ?Sized)) -> serde_json::Result<Frame> {
    Frame::build(|out| {
        out.extend_from_slice(b"42");
        serde_json::to_writer(out, &(name, payload))
    })
}

/// `43<id><args>`: the answer to the client's event `id`; `args` a JSON array.
pub fn ack(id: u64, args: &impl Serialize) -> serde_json::Result<Frame> {
    Frame::build(|out| {
        out.extend_from_slice(b"43");
        out.extend_from_slice(id.to_string().as_bytes());
        serde_json::to_writer(out, args)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_what_clients_send() {
        assert_eq!(decode("2"), Ok(Inbound::Ping("")));
        assert_eq!(decode("2probe"), Ok(Inbound::Ping("probe")));
        assert_eq!(decode("3"), Ok(Inbound::Pong("")));
        assert_eq!(decode("5"), Ok(Inbound::Upgrade));
        assert_eq!(decode("1"), Ok(Inbound::Close));
        assert_eq!(
            decode("40"),
            Ok(Inbound::Message(Message::Connect { namespace: "/" }))
        );
        assert_eq!(
            decode("40{\"token\":\"x\"}"),
            Ok(Inbound::Message(Message::Connect { namespace: "/" }))
        );
        assert_eq!(
            decode("40/admin,"),
            Ok(Inbound::Message(Message::Connect {
                namespace: "/admin"
            }))
        );
        assert_eq!(
            decode("41"),
            Ok(Inbound::Message(Message::Disconnect { namespace: "/" }))
        );
        assert_eq!(
            decode("4212[\"find\",\"roles\",{}]"),
            Ok(Inbound::Message(Message::Event {
                namespace: "/",
                ack: Some(12),
                name: "find".into(),
                args: Ok(vec![json!("roles"), json!({})]),
            }))
        );
        assert_eq!(
            decode("42/x,[\"a\"]"),
            Ok(Inbound::Message(Message::Event {
                namespace: "/x",
                ack: None,
                name: "a".into(),
                args: Ok(vec![]),
            }))
        );
        let deep = format!("42[\"find\",{}1{}]", "[".repeat(1000), "]".repeat(1000));
        let Ok(Inbound::Message(Message::Event { args, .. })) = decode(&deep) else {
            panic!("a deep event is read");
        };
        assert!(args.is_err());
        assert_eq!(decode("431[null]"), Ok(Inbound::Message(Message::Ack)));
    }

    #[test]
    fn refuses_what_does_not_parse() {
        for bad in [
            "",
            "4",
            "zzz",
            "7",
            "42[",
            "42{\"a\":1}",
            "4299999999999999999999[\"find\",\"roles\",{}]",
            "43[]",
            "45",
            "451-[\"a\",{\"_placeholder\":true,\"num\":0}]",
            "42[\"find\"",
            "42[1,2,3]",
            "42[]",
            "40[1]",
            "é",
            "4é",
        ] {
            assert!(decode(bad).is_err(), "{bad:?} was read");
        }
    }

    #[test]
    fn writes_what_clients_read() {
        assert_eq!(
            event("messages created", &json!({"id": 1})).unwrap().text(),
            &b"42[\"messages created\",{\"id\":1}]"[..]
        );
        assert_eq!(
            ack(7, &(Value::Null, json!([1]))).unwrap().text(),
            &b"437[null,[1]]"[..]
        );
        assert_eq!(&connected("abc")[..], b"40{\"sid\":\"abc\"}");
        assert_eq!(&connect_error("/", "no")[..], b"44{\"message\":\"no\"}");
        assert_eq!(
            &connect_error("/admin", "no")[..],
            b"44/admin,{\"message\":\"no\"}"
        );
        let open = open("s", true, 25000, 20000, 1000);
        let body: Value = serde_json::from_slice(&open[1..]).unwrap();
        assert_eq!(open[0], b'0');
        assert_eq!(body["upgrades"], json!(["websocket"]));
        assert_eq!(body["pingInterval"], 25000);
    }

    proptest::proptest! {
        /// No input makes the reader panic.
        #[test]
        fn any_text_is_read_or_refused(text in ".{0,40}") {
            let _ = decode(&text);
        }

        #[test]
        fn events_round_trip(name in "[a-z ]{1,12}", n in proptest::num::i64::ANY, ack in proptest::option::of(0u64..u64::MAX)) {
            let written = event(&name, &json!({"n": n})).unwrap().text();
            let text = std::str::from_utf8(&written).unwrap();
            let text = match ack {
                Some(id) => format!("42{id}{}", &text[2..]),
                None => text.to_string(),
            };
            let read = decode(&text).unwrap();
            proptest::prop_assert_eq!(read, Inbound::Message(Message::Event {
                namespace: "/",
                ack,
                name,
                args: Ok(vec![json!({"n": n})]),
            }));
        }
    }
}
