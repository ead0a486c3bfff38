//! Randomised robustness test (`cargo test fuzz_tests`) of the json and yaml decoders and the json encoder.
//!
//! Mutates the conformance documents and generated arrays of sibling objects (byte flips,
//! insertions, deletions, splices, deep nesting) and feeds them to the decoders through a real
//! Lua state. json.decode must accept exactly what serde_json accepts (up to serde_json's
//! nesting limit) and produce the same value; every accepted value must re-encode and decode
//! to the same text. Runs for FUZZ_SECONDS (default 5): `make fuzz` runs it for 10 minutes.
//! A crash or a Rust panic fails the test.

use std::time::{Duration, Instant};

use mlua::{Lua, Table, Value};

fn corpus() -> Vec<Vec<u8>> {
    let mut rng = Rng(7);
    let mut docs: Vec<Vec<u8>> = (0..50).map(|_| sibling_objects(&mut rng)).collect();
    docs.extend((0..20).map(|_| {
        let mut doc = String::new();
        long_arrays(&mut rng, 0, &mut doc);
        doc.into_bytes()
    }));
    for dir in ["spec/data/JSONTestSuite"] {
        for entry in std::fs::read_dir(dir).expect("conformance data") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                docs.push(std::fs::read(path).unwrap());
            }
        }
    }
    let yaml_cases = std::path::Path::new("spec/data/yaml-test-suite/cases");
    for entry in std::fs::read_dir(yaml_cases).expect("yaml data") {
        let path = entry.unwrap().path().join("in.yaml");
        if let Ok(bytes) = std::fs::read(path) {
            docs.push(bytes);
        }
    }
    docs
}

/// xorshift64*: deterministic per seed, so a failure can be replayed with FUZZ_SEED.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// An array of objects whose keys repeat from sibling to sibling, some escaped, some prefixes
/// of others: the decoder's key cache must never take one for another.
fn sibling_objects(rng: &mut Rng) -> Vec<u8> {
    const KEYS: &[&str] = &[
        r#""ab""#,
        r#""a\u0062""#,
        r#""abc""#,
        r#""ab\"""#,
        r#""é""#,
        r#""\u00e9""#,
        r#""""#,
        r#""a""#,
        r#""abcdefghijklmnopq""#,
        r#""abcdefghijklmnopr""#,
        r#""ab\u0000""#,
    ];
    let mut doc = String::from("[");
    for i in 0..1 + rng.below(20) {
        doc.push_str(if i > 0 { ",{" } else { "{" });
        for j in 0..rng.below(5) {
            if j > 0 {
                doc.push(',');
            }
            doc.push_str(&format!("{}:{}", KEYS[rng.below(KEYS.len())], i * 10 + j));
        }
        doc.push('}');
    }
    doc.push(']');
    doc.into_bytes()
}

/// Arrays around the 64 items the decoder holds back on the stack before it makes an array's
/// table, nested, so that several levels hold items back at once.
fn long_arrays(rng: &mut Rng, depth: usize, doc: &mut String) {
    const LENGTHS: &[usize] = &[0, 1, 2, 63, 64, 65, 127, 128, 129, 200];
    let n = if rng.below(3) == 0 { rng.below(300) } else { LENGTHS[rng.below(LENGTHS.len())] };
    doc.push('[');
    for i in 0..n {
        if i > 0 {
            doc.push(',');
        }
        match rng.below(32) {
            0 if depth < 3 => long_arrays(rng, depth + 1, doc),
            1..=10 => doc.push_str(&format!("\"s{i}\"")),
            11..=14 => doc.push_str(&format!("{{\"k\":{i}}}")),
            _ => doc.push_str(&i.to_string()),
        }
    }
    doc.push(']');
}

/// Whether a decoded Lua value is the value serde_json read from the same text (floats to the
/// bit: the tests build serde_json with its correctly rounded float parser).
fn same(value: &Value, expected: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (value, expected) {
        (Value::LightUserData(p), J::Null) => p.0.is_null(),
        (Value::Boolean(b), J::Bool(e)) => b == e,
        (Value::Integer(i), J::Number(n)) => n.as_i64() == Some(*i) || n.as_f64() == Some(*i as f64),
        (Value::Number(f), J::Number(n)) => n.as_f64().is_some_and(|e| f.to_bits() == e.to_bits()),
        (Value::String(s), J::String(e)) => s.as_bytes().as_ref() == e.as_bytes(),
        (Value::Table(t), J::Array(items)) => {
            t.raw_len() == items.len() && items.iter().enumerate().all(|(i, e)| same(&t.raw_get(i + 1).unwrap(), e))
        }
        (Value::Table(t), J::Object(members)) => {
            t.pairs::<Value, Value>().count() == members.len()
                && members.iter().all(|(k, e)| same(&t.raw_get(k.as_str()).unwrap(), e))
        }
        _ => false,
    }
}

const INTERESTING: &[&[u8]] = &[
    b"[", b"]", b"{", b"}", b"\"", b"\\u", b"\\ud800", b":", b",", b"&a ", b"*a", b"<<: ", b"- ", b"\n  ", b"---\n",
    b"1e999", b"-0", b"\xff", b"\t", b"!!int ", b"? ",
];

fn mutate(rng: &mut Rng, docs: &[Vec<u8>]) -> Vec<u8> {
    let mut doc = docs[rng.below(docs.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(doc.len() + 1);
        match rng.below(6) {
            0 if !doc.is_empty() => {
                let i = rng.below(doc.len());
                doc[i] ^= 1 << rng.below(8);
            }
            1 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                doc.splice(at..at, piece.iter().copied());
            }
            2 if !doc.is_empty() => {
                let end = (at + rng.below(16)).min(doc.len());
                doc.drain(at.min(end)..end);
            }
            3 => {
                let other = &docs[rng.below(docs.len())];
                let from = rng.below(other.len());
                let to = (from + rng.below(64)).min(other.len());
                doc.splice(at..at, other[from..to].iter().copied());
            }
            4 => {
                let depth = rng.below(3000);
                let open = if rng.below(2) == 0 { b"[" } else { b"{" };
                doc.splice(at..at, std::iter::repeat_n(open[0], depth));
            }
            _ => {}
        }
    }
    doc
}

#[test]
fn decoders_survive_mutated_documents() {
    let seconds: u64 = std::env::var("FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let seed: u64 = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x9e37_79b9_7f4a_7c15);
    let lua = Lua::new();
    let native = crate::open(&lua).unwrap();
    let json: Table = native.get("json").unwrap();
    let yaml: Table = native.get("yaml").unwrap();
    let json_decode: mlua::Function = json.get("decode").unwrap();
    let json_encode: mlua::Function = json.get("encode").unwrap();
    let yaml_decode: mlua::Function = yaml.get("decode").unwrap();
    let all = lua.create_table().unwrap();
    all.set("all", true).unwrap();
    let sorted = lua.create_table().unwrap();
    sorted.set("sort_keys", true).unwrap();
    let docs = corpus();
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut runs, mut json_ok, mut yaml_ok) = (0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        for _ in 0..200 {
            let input = mutate(&mut rng, &docs);
            let text = lua.create_string(&input).unwrap();
            let (value, err): (Value, Value) =
                json_decode.call(text.clone()).expect("json.decode must not raise on any input");
            match serde_json::from_slice::<serde_json::Value>(&input) {
                Ok(expected) => assert!(
                    same(&value, &expected),
                    "json.decode disagrees with serde_json ({err:?}) on {:?}",
                    String::from_utf8_lossy(&input)
                ),
                Err(e) => assert!(
                    value.is_nil() || e.to_string().contains("recursion limit"),
                    "json.decode accepted what serde_json refuses ({e}): {:?}",
                    String::from_utf8_lossy(&input)
                ),
            }
            if !value.is_nil() {
                json_ok += 1;
                let (plain, _): (Value, Value) = json_encode.call(value.clone()).expect("json.encode must not raise");
                let (encoded, err): (Value, Value) =
                    json_encode.call((value, sorted.clone())).expect("json.encode must not raise");
                let encoded = match encoded {
                    Value::String(s) => s,
                    _ => panic!("a decoded value must re-encode: {err:?}"),
                };
                let (again, _): (Value, Value) = json_decode.call(encoded.clone()).unwrap();
                let (twice, _): (Value, Value) = json_encode.call((again, sorted.clone())).unwrap();
                assert_eq!(twice.to_string().unwrap(), encoded.to_str().unwrap().to_string(), "encode is stable");
                // The same value encoded without options (member order of the table's own) reads
                // back to the same value.
                let (from_plain, _): (Value, Value) = json_decode.call(plain).unwrap();
                let (sorted_again, _): (Value, Value) = json_encode.call((from_plain, sorted.clone())).unwrap();
                assert_eq!(sorted_again.to_string().unwrap(), twice.to_string().unwrap(), "plain encode reads back");
            }
            let (value, _err): (Value, Value) =
                yaml_decode.call((text, all.clone())).expect("yaml.decode must not raise on any input");
            if !value.is_nil() {
                yaml_ok += 1;
            }
            runs += 1;
        }
        lua.gc_collect().unwrap();
    }
    eprintln!("fuzz: {runs} inputs in {seconds} s (seed {seed}): json accepted {json_ok}, yaml accepted {yaml_ok}");
    assert!(runs > 0);
}
