//! `Query::parse` over arbitrary JSON maps, and over what the query-string parser builds
//! (the REST path feeds one into the other).
#![no_main]

use libfuzzer_sys::fuzz_target;
use roost::service::Query;
use roost::transport::query_string;
use serde_json::{Map, Value};

/// A bad query is the client's fault: a 4xx Feathers error, never a 500.
fn check(map: &Map<String, Value>) {
    if let Err(e) = Query::parse(map) {
        assert!((400..500).contains(&e.code()), "{}: {}", e.code(), e.message);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(map) = serde_json::from_slice::<Map<String, Value>>(data) {
        check(&map);
    }
    if let Ok(map) = query_string::parse(&String::from_utf8_lossy(data)) {
        check(&map);
    }
});
