//! The REST query-string parser (`qs` syntax): any input is a map or a Feathers error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roost::error::Result;
use roost::transport::query_string::{self, Limits};

/// A bad query string is the client's fault: a 4xx Feathers error, never a 500.
fn client_error<T>(result: Result<T>) {
    if let Err(e) = result {
        assert!((400..500).contains(&e.code()), "{}: {}", e.code(), e.message);
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    client_error(query_string::parse(&text));
    // Tighter limits reach the depth / parameter / array-limit edges with short inputs.
    let small = Limits {
        max_params: 8,
        depth: 2,
        array_limit: 3,
        max_bytes: 256,
    };
    client_error(query_string::parse_with(&text, &small));
    let _ = query_string::percent_decode_strict(&text);
    let _ = query_string::decode(&text);
});
