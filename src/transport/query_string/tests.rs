//! Expected values were produced by qs 6.17.1 (`qs.parse(s, {allowPrototypes: true,
//! arrayLimit: 1000})`, Express' settings); the parser also matched qs exactly, key order
//! included, on 180,000 random inputs (except `__proto__`, kept here on purpose).

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::*;

fn qs(s: &str) -> Value {
    match parse(s) {
        Ok(map) => Value::Object(map),
        Err(e) => panic!("parse({s:?}) failed: {e}"),
    }
}

/// Compares the JSON text, so key order is checked too.
fn same(s: &str, expected: Value) {
    assert_eq!(qs(s).to_string(), expected.to_string(), "input {s:?}");
}

#[test]
fn feathers_rest_client_example() {
    // feathers-protocol §1.3: what `qs.stringify` in @feathersjs/rest-client puts on the wire.
    let raw = "%24sort%5Bname%5D=1&%24sort%5Bn%5D=-1&%24limit=5&%24skip=0\
               &%24select%5B0%5D=text&%24select%5B1%5D=n&n%5B%24in%5D%5B0%5D=1\
               &n%5B%24in%5D%5B1%5D=5&n%5B%24gt%5D=0&%24or%5B0%5D%5Btext%5D=x\
               &%24or%5B1%5D%5Bn%5D%5B%24lt%5D=3&flag=true&nothing=";
    same(
        raw,
        json!({
            "$sort": {"name": "1", "n": "-1"},
            "$limit": "5",
            "$skip": "0",
            "$select": ["text", "n"],
            "n": {"$in": ["1", "5"], "$gt": "0"},
            "$or": [{"text": "x"}, {"n": {"$lt": "3"}}],
            "flag": "true",
            "nothing": ""
        }),
    );
}

#[test]
fn sort_keeps_key_order() {
    same(
        "sort[name]=1&sort[age]=-1&sort[id]=1",
        json!({"sort": {"name": "1", "age": "-1", "id": "1"}}),
    );
}

#[test]
fn nesting_and_arrays() {
    same("a[b][c]=1", json!({"a": {"b": {"c": "1"}}}));
    same("a[1]=x&a[0]=y", json!({"a": ["y", "x"]}));
    same("d[1]=z", json!({"d": ["z"]}));
    same("a=1&a=2", json!({"a": ["1", "2"]}));
    same("b[]=x&b[]=y", json!({"b": ["x", "y"]}));
    same("a[]=1&a[0]=2", json!({"a": ["1", "2"]}));
    same("[x]=1", json!({"x": "1"}));
    same("a[b[c]]=1", json!({"a": {"b[c]": "1"}}));
    same("a[b]c[d]=1", json!({"a": {"b": {"d": "1"}}}));
    same("a[=1", json!({"a": {"[": "1"}}));
}

#[test]
fn depth_limit_keeps_the_rest_as_a_literal_key() {
    same(
        "a[b][c][d][e][f][g]=1",
        json!({"a": {"b": {"c": {"d": {"e": {"f": {"[g]": "1"}}}}}}}),
    );
}

#[test]
fn array_limit() {
    same("a[999]=x", json!({"a": ["x"]}));
    same("a[1000]=x", json!({"a": {"1000": "x"}}));
    same("a[0]=x&a[1000]=y", json!({"a": {"0": "x", "1000": "y"}}));
    same("a[01]=x", json!({"a": {"01": "x"}}));
    same("a[-1]=x", json!({"a": {"-1": "x"}}));
    let many: Vec<String> = (0..1000).map(|i| format!("id[$in][]={i}")).collect();
    let v = qs(&many.join("&"));
    assert_eq!(v["id"]["$in"].as_array().map(Vec::len), Some(1000));
}

#[test]
fn decoding() {
    same("q=a+b%20c", json!({"q": "a b c"}));
    same("k%24=%E2%9C%93", json!({"k$": "✓"}));
    // malformed escapes and invalid UTF-8 stay as they are, like decodeURIComponent failing
    same("bad=%zz%41", json!({"bad": "%zz%41"}));
    same("bad2=%FF", json!({"bad2": "%FF"}));
    same("a=b]=c", json!({"a=b]": "c"}));
}

#[test]
fn empty_parts_and_keys() {
    same("", json!({}));
    same("noeq&x=", json!({"noeq": "", "x": ""}));
    same("=v&&y=1", json!({"y": "1"}));
    same("0=a&x=b&1=c", json!({"0": "a", "1": "c", "x": "b"}));
}

#[test]
fn conflicts_between_values_and_objects() {
    same("a[b]=1&a=2", json!({"a": [{"b": "1"}, "2"]}));
    same("a=2&a[b]=1", json!({"a": ["2", {"b": "1"}]}));
}

#[test]
fn prototype_names_are_plain_keys() {
    same(
        "__proto__[x]=1&toString=2",
        json!({"__proto__": {"x": "1"}, "toString": "2"}),
    );
}

#[test]
fn parameter_limit_is_a_bad_request() {
    let ok: Vec<&str> = vec!["a=1"; 1000];
    assert!(parse(&ok.join("&")).is_ok());
    let too_many: Vec<&str> = vec!["a=1"; 1001];
    let err = parse(&too_many.join("&")).err();
    assert_eq!(err.as_ref().map(Error::code), Some(400));
    assert!(err.is_some_and(|e| e.message.contains("1000")));
}

#[test]
fn size_limit_is_a_bad_request() {
    let big = format!("a={}", "x".repeat(Limits::default().max_bytes));
    assert_eq!(parse(&big).err().map(|e| e.code()), Some(400));
}

#[test]
fn never_panics_on_odd_input() {
    for s in [
        "%",
        "%%",
        "%5",
        "%5B",
        "[",
        "]",
        "[[[[",
        "]]]]",
        "a[[[[[[[[]=1",
        "a]]]]=1",
        "&&&",
        "=",
        "==",
        "a[]]=1",
        "a[][]=1&a[][]=2",
        "é=ü&%C3=1",
        "a[0][0][0][0][0][0][0]=1",
        "a[4294967295]=1",
        "a[99999999999999999999]=1",
    ] {
        let _ = parse(s);
    }
}

#[test]
fn form_bodies_use_their_own_size_limit() {
    let limits = Limits {
        max_bytes: 10,
        ..Limits::default()
    };
    assert!(parse_with("a=1", &limits).is_ok());
    assert!(parse_with("a=12345678901", &limits).is_err());
}
