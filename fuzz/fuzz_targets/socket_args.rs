//! Socket.IO event decoding: `<event>\n<JSON arguments>` through [`Args`] (how the
//! arguments of an event are read) and [`plan`] (how they become a call).
#![no_main]

use libfuzzer_sys::fuzz_target;
use roost::service::Method;
use roost::transport::socket::{Args, plan};

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
    let (event, json) = text.split_once('\n').unwrap_or(("find", &text));
    if let Ok(Args(args)) = serde_json::from_str::<Args>(json) {
        // Bad arguments are the client's fault: a 4xx Feathers error, never a 500.
        if let Err(e) = plan(event, args, methods_of) {
            assert!((400..500).contains(&e.code()), "{}: {}", e.code(), e.message);
        }
    }
});
