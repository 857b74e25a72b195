//! Canonical serialization and the content digest, as specified in `docs/graph-format.md`.
//!
//! The canonical form is the RFC 8785 (JSON Canonicalization Scheme) serialization of the
//! document with visual data removed, defaults filled in, and nodes, ports, edges and groups
//! sorted. Its SHA-256 is the graph's digest: the same graph has the same digest on every
//! platform however its JSON was ordered or spaced, and moving a node is not a new version.

use std::cmp::Ordering;

use serde_json::{Map, Value};
use sha2::Digest as _;

use crate::digest::Digest;
use crate::document::{AgentRef, AgentVersion, CURRENT_SCHEMA, Edge, Graph, Group, Node};

impl Graph {
    /// The canonical JSON text of the graph (see `docs/graph-format.md`).
    pub fn canonical_json(&self) -> String {
        let mut out = Vec::with_capacity(self.nodes.len() * 128 + 64);
        write_graph(self, &mut out, &mut |_| {});
        // The writer only emits valid UTF-8: JSON punctuation, escapes and copied strings.
        String::from_utf8(out).unwrap_or_default()
    }

    /// The content digest: SHA-256 of [`Graph::canonical_json`], streamed without building it.
    pub fn digest(&self) -> Digest {
        let mut hasher = sha2::Sha256::new();
        let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
        write_graph(self, &mut buf, &mut |buf| {
            hasher.update(&buf[..]);
            buf.clear();
        });
        hasher.update(&buf);
        Digest::from_bytes(hasher.finalize().into())
    }
}

/// Writes `value` as RFC 8785 canonical JSON into `out`.
pub fn write_canonical_value(value: &Value, out: &mut Vec<u8>) {
    write_value(value, out);
}

/// Compares two strings the way RFC 8785 orders object keys: by UTF-16 code units.
pub fn jcs_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Canonical bytes are written into a buffer; `flush` empties it (into the hasher) whenever it
/// has grown past `FLUSH_AT`, between nodes and edges, so a digest never holds the whole text.
const FLUSH_AT: usize = 64 * 1024;

// Keys are written in RFC 8785 order by hand below: every key of the fixed structure is ASCII,
// so byte order is UTF-16 order, and each object lists its keys alphabetically.

fn write_graph(g: &Graph, out: &mut Vec<u8>, flush: &mut dyn FnMut(&mut Vec<u8>)) {
    // Ids are almost always ASCII, where byte order is RFC 8785's order: check once, not at
    // every comparison.
    let mut nodes: Vec<&Node> = g.nodes.iter().collect();
    if nodes.iter().all(|n| n.id.is_ascii()) {
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
    } else {
        nodes.sort_by(|a, b| jcs_cmp(&a.id, &b.id));
    }
    // Equal edges write equal bytes, so an unstable sort is as good as a stable one.
    let mut edges: Vec<&Edge> = g.edges.iter().collect();
    if edges
        .iter()
        .all(|e| e.from.as_str().is_ascii() && e.to.as_str().is_ascii())
    {
        edges.sort_unstable_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    } else {
        edges.sort_unstable_by(|a, b| {
            jcs_cmp(a.from.as_str(), b.from.as_str())
                .then_with(|| jcs_cmp(a.to.as_str(), b.to.as_str()))
        });
    }
    let mut groups: Vec<&Group> = g.groups.iter().collect();
    groups.sort_by(|a, b| jcs_cmp(&a.id, &b.id));

    out.extend_from_slice(b"{\"edges\":[");
    for (i, e) in edges.iter().enumerate() {
        if out.len() >= FLUSH_AT {
            flush(out);
        }
        comma(i, out);
        out.extend_from_slice(b"{\"from\":");
        write_str(e.from.as_str(), out);
        out.extend_from_slice(b",\"to\":");
        write_str(e.to.as_str(), out);
        out.extend_from_slice(b"}");
    }
    out.extend_from_slice(b"],\"groups\":[");
    for (i, group) in groups.iter().enumerate() {
        comma(i, out);
        out.extend_from_slice(b"{\"agent\":");
        write_agent(&group.agent, out);
        out.extend_from_slice(b",\"id\":");
        write_str(&group.id, out);
        out.extend_from_slice(b",\"label\":");
        write_opt_str(group.label.as_deref(), out);
        out.extend_from_slice(b"}");
    }
    out.extend_from_slice(b"],\"nodes\":[");
    for (i, node) in nodes.iter().enumerate() {
        if out.len() >= FLUSH_AT {
            flush(out);
        }
        comma(i, out);
        write_node(node, out);
    }
    out.extend_from_slice(b"],\"schema\":");
    out.extend_from_slice(CURRENT_SCHEMA.to_string().as_bytes());
    out.extend_from_slice(b"}");
}

fn write_node(n: &Node, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"agent\":");
    match &n.agent {
        Some(agent) => write_agent(agent, out),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"config\":");
    write_object(&n.config, out);
    out.extend_from_slice(b",\"id\":");
    write_str(&n.id, out);
    out.extend_from_slice(b",\"inputs\":[");
    for (i, p) in sorted_by_name(&n.inputs, |p| &p.name).iter().enumerate() {
        comma(i, out);
        out.extend_from_slice(if p.multiple {
            b"{\"multiple\":true,\"name\":"
        } else {
            b"{\"multiple\":false,\"name\":"
        });
        write_str(&p.name, out);
        out.extend_from_slice(if p.required {
            b",\"required\":true,\"type\":"
        } else {
            b",\"required\":false,\"type\":"
        });
        write_str(p.ty.as_str(), out);
        out.extend_from_slice(b"}");
    }
    out.extend_from_slice(b"],\"kind\":");
    write_str(n.kind.as_str(), out);
    out.extend_from_slice(b",\"label\":");
    write_opt_str(n.label.as_deref(), out);
    out.extend_from_slice(b",\"outputs\":[");
    for (i, p) in sorted_by_name(&n.outputs, |p| &p.name).iter().enumerate() {
        comma(i, out);
        out.extend_from_slice(b"{\"name\":");
        write_str(&p.name, out);
        out.extend_from_slice(b",\"type\":");
        write_str(p.ty.as_str(), out);
        out.extend_from_slice(b"}");
    }
    out.extend_from_slice(b"]}");
}

/// The ports in name order; borrowed without sorting when they already are (the usual case).
fn sorted_by_name<T>(ports: &[T], name: impl Fn(&T) -> &String) -> std::borrow::Cow<'_, [T]>
where
    T: Clone,
{
    if ports.is_sorted_by(|a, b| jcs_cmp(name(a), name(b)).is_le()) {
        return std::borrow::Cow::Borrowed(ports);
    }
    let mut sorted = ports.to_vec();
    sorted.sort_by(|a, b| jcs_cmp(name(a), name(b)));
    std::borrow::Cow::Owned(sorted)
}

fn write_agent(a: &AgentRef, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"id\":");
    write_str(&a.id, out);
    out.extend_from_slice(b",\"version\":");
    match a.version {
        AgentVersion::Latest => out.extend_from_slice(b"\"latest\""),
        AgentVersion::Pinned(digest) => {
            out.extend_from_slice(b"\"sha256:");
            let mut hex = [0u8; 64];
            for (i, b) in digest.as_bytes().iter().enumerate() {
                hex[2 * i] = HEX[(b >> 4) as usize];
                hex[2 * i + 1] = HEX[(b & 15) as usize];
            }
            out.extend_from_slice(&hex);
            out.extend_from_slice(b"\"");
        }
    }
    out.extend_from_slice(b"}");
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_opt_str(s: Option<&str>, out: &mut Vec<u8>) {
    match s {
        Some(s) => write_str(s, out),
        None => out.extend_from_slice(b"null"),
    }
}

fn comma(i: usize, out: &mut Vec<u8>) {
    if i > 0 {
        out.extend_from_slice(b",");
    }
}

fn write_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.extend_from_slice(b"[");
            for (i, item) in items.iter().enumerate() {
                comma(i, out);
                write_value(item, out);
            }
            out.extend_from_slice(b"]");
        }
        Value::Object(map) => write_object(map, out),
    }
}

fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{");
    // serde_json's map is ordered by bytes, which is RFC 8785's order unless a key has
    // characters outside the Basic Multilingual Plane; only then do we sort again.
    if map.keys().all(|k| k.is_ascii()) {
        for (i, (k, v)) in map.iter().enumerate() {
            comma(i, out);
            write_str(k, out);
            out.extend_from_slice(b":");
            write_value(v, out);
        }
    } else {
        let mut entries: Vec<(&String, &Value)> = map.iter().collect();
        entries.sort_by(|a, b| jcs_cmp(a.0, b.0));
        for (i, (k, v)) in entries.into_iter().enumerate() {
            comma(i, out);
            write_str(k, out);
            out.extend_from_slice(b":");
            write_value(v, out);
        }
    }
    out.extend_from_slice(b"}");
}

/// RFC 8785 numbers are IEEE-754 doubles printed the way ECMAScript prints them.
fn write_number(n: &serde_json::Number, out: &mut Vec<u8>) {
    let f = n.as_f64().unwrap_or(0.0);
    if f == 0.0 {
        // Both zeros print as `0`.
        out.extend_from_slice(b"0");
        return;
    }
    let mut buf = ryu_js::Buffer::new();
    out.extend_from_slice(buf.format_finite(f).as_bytes());
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\"");
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\"");
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 15) as usize],
                ]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.extend_from_slice(b"\"");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(json: &str) -> String {
        let v: Value = serde_json::from_str(json).unwrap();
        let mut out = Vec::new();
        write_canonical_value(&v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_follow_rfc_8785() {
        // Examples from RFC 8785, section 3.2.2 and appendix B.
        assert_eq!(
            canon(
                r#"{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"literals":[null,true,false]}"#
            ),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27]}"#
        );
        assert_eq!(
            canon(r#""\u20ac$\u000f\nA'B\"\\\\\"/""#),
            "\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\""
        );
        assert_eq!(
            canon("[-0.0, 1.0, 100, 1e21, -5e-7]"),
            "[0,1,100,1e+21,-5e-7]"
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+1F600 (a surrogate pair, 0xD83D…) sorts before U+FB33 in UTF-16, after it in UTF-8.
        let expected = format!("{{\"a\":3,\"\u{1F600}\":2,\"{}\":1}}", '\u{fb33}');
        assert_eq!(canon(r#"{"\ufb33":1,"\ud83d\ude00":2,"a":3}"#), expected);
    }

    #[test]
    fn visual_data_stays_out_of_the_digest() {
        let a = Graph::from_json(r#"{"schema":1,"nodes":[{"id":"a","kind":"agent","position":[1,2,3],"ui":{"color":"red"}}],"ui":{"zoom":2}}"#).unwrap();
        let b = Graph::from_json(
            r#"{"schema":1,"nodes":[{"id":"a","kind":"agent","position":[9,9]}]}"#,
        )
        .unwrap();
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.canonical_json(), b.canonical_json());
    }

    #[test]
    fn defaults_and_order_do_not_change_the_digest() {
        let a = Graph::from_json(
            r#"{"schema":1,"nodes":[
            {"id":"b","kind":"agent","inputs":[{"name":"y"},{"name":"x","type":"text"}]},
            {"id":"a","kind":"input","outputs":[{"name":"v","type":"text"}],"config":{}}],
            "edges":[{"from":"a.v","to":"b.x"}]}"#,
        )
        .unwrap();
        let b = Graph::from_json(r#"{"edges":[{"to":"b.x","from":"a.v"}],"nodes":[
            {"kind":"input","outputs":[{"type":"text","name":"v"}],"id":"a"},
            {"inputs":[{"name":"x","type":"text","required":true},{"name":"y","type":"any","multiple":false}],"kind":"agent","id":"b"}],
            "schema":1}"#).unwrap();
        assert_eq!(a.digest(), b.digest());
        let c = Graph::from_json(r#"{"schema":1,"nodes":[{"id":"a","kind":"agent","label":"A"}]}"#)
            .unwrap();
        let d = Graph::from_json(r#"{"schema":1,"nodes":[{"id":"a","kind":"agent"}]}"#).unwrap();
        assert_ne!(c.digest(), d.digest(), "a label is content");
    }

    #[test]
    fn the_canonical_form_is_pinned() {
        // This text and digest are in docs/graph-format.md: change both or neither.
        let g = Graph::from_json(r#"{"schema":1,"nodes":[
            {"id":"question","kind":"input","outputs":[{"name":"value","type":"text"}],"position":[0,0]},
            {"id":"answer","kind":"output","label":"Answer","inputs":[{"name":"value","type":"text"}]}],
            "edges":[{"from":"question.value","to":"answer.value"}]}"#).unwrap();
        expect_test::expect![[r#"{"edges":[{"from":"question.value","to":"answer.value"}],"groups":[],"nodes":[{"agent":null,"config":{},"id":"answer","inputs":[{"multiple":false,"name":"value","required":true,"type":"text"}],"kind":"output","label":"Answer","outputs":[]},{"agent":null,"config":{},"id":"question","inputs":[],"kind":"input","label":null,"outputs":[{"name":"value","type":"text"}]}],"schema":1}"#]]
            .assert_eq(&g.canonical_json());
        let mut sha = sha2::Sha256::new();
        sha.update(g.canonical_json().as_bytes());
        let expected = Digest::from_bytes(sha.finalize().into());
        assert_eq!(
            g.digest(),
            expected,
            "the streamed digest hashes the canonical text"
        );
        expect_test::expect![
            "sha256:d8f1b87ea81f70ce3ca5eb1e904ed077a9ff696b4ebe6e550b4be7b29040ee8d"
        ]
        .assert_eq(&g.digest().to_string());
    }
}
