//! Socket.IO event decoding: a client's Engine.IO packet through [`packet::decode`] (how a
//! packet and the arguments of an event are read) and [`plan`] (how they become a call).
#![no_main]

use libfuzzer_sys::fuzz_target;
use roost::service::Method;
use roost::socketio::packet::{self, Inbound, Message};
use roost::transport::socket::plan;

const ALL: &[Method] = &Method::ALL;
const READ_ONLY: &[Method] = &[Method::Find, Method::Get];

fn methods_of(path: &str) -> Option<&'static [Method]> {
    match path {
        "users" | "v1/users" => Some(ALL),
        "logs" => Some(READ_ONLY),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(Inbound::Message(Message::Event { name, args: Ok(args), .. })) = packet::decode(&text) {
        // Bad arguments are the client's fault: a 4xx Feathers error, never a 500.
        if let Err(e) = plan(&name, args, methods_of) {
            assert!((400..500).contains(&e.code()), "{}: {}", e.code(), e.message);
        }
    }
});
