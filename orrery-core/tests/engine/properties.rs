//! Property tests: the digest ignores key order and spacing, canonical JSON round-trips, a graph
//! does not differ from itself, and flattening a valid graph gives a valid graph.

use orrery_core::{Graph, MemoryResolver, NoAgents, diff, flatten, validate};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// A small deterministic generator, so one `u64` from proptest describes a whole graph.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const TYPES: &[&str] = &[
    "any",
    "text",
    "json",
    "number",
    "messages",
    "document",
    "documents",
];

fn accepts(to: &str, from: &str) -> bool {
    orrery_core::PortType::from_name(to).accepts(&orrery_core::PortType::from_name(from))
}

fn config(rng: &mut Rng) -> Value {
    let mut map = Map::new();
    for i in 0..rng.below(4) {
        let value = match rng.below(6) {
            0 => json!(rng.next() as f64 / 7.0),
            1 => json!(rng.below(1000) as i64 - 500),
            2 => json!(format!("prompt {i} é ✓ 😀 \"quoted\"\n")),
            3 => json!({"nested": {"b": [1, 2.5, null], "a": true}}),
            4 => json!(1e21),
            _ => json!(null),
        };
        map.insert(
            format!("k{}{}", rng.pick(&["", "é", "Z", "😀", "a"]), i),
            value,
        );
    }
    Value::Object(map)
}

/// A layered graph: inputs, middle nodes, outputs, with edges only between compatible ports.
/// With `agent`, some middle nodes use that agent (given its interface).
/// Named, typed ports: `(name, type)`.
type Ports = Vec<(String, String)>;

fn workflow(seed: u64, agent: Option<(&str, &Ports, &Ports)>) -> Value {
    let mut rng = Rng(seed | 1);
    let mut nodes: Vec<Value> = Vec::new();
    let mut outputs: Vec<(String, String)> = Vec::new(); // (endpoint, type) usable as sources
    let mut edges: Vec<Value> = Vec::new();
    for i in 0..1 + rng.below(3) {
        let ty = rng.pick(TYPES);
        nodes.push(json!({"id": format!("in{i}"), "kind": "input", "outputs": [{"name": "value", "type": ty}]}));
        outputs.push((format!("in{i}.value"), ty.to_owned()));
    }
    let connect =
        |rng: &mut Rng, outputs: &[(String, String)], to: &str, ty: &str| -> Option<Value> {
            let fits: Vec<&(String, String)> =
                outputs.iter().filter(|(_, t)| accepts(ty, t)).collect();
            if fits.is_empty() {
                return None;
            }
            let (from, _) = fits[rng.below(fits.len() as u64) as usize];
            Some(json!({"from": from, "to": to}))
        };
    for i in 0..rng.below(12) {
        let id = format!("step{i}");
        if let Some((agent_id, ins, outs)) = agent
            && rng.below(3) == 0
        {
            let wired: Vec<Option<Value>> = ins
                .iter()
                .map(|(name, ty)| connect(&mut rng, &outputs, &format!("{id}.{name}"), ty))
                .collect();
            if wired.iter().all(Option::is_some) {
                edges.extend(wired.into_iter().flatten());
                let inputs: Vec<Value> = ins
                    .iter()
                    .map(|(n, t)| json!({"name": n, "type": t}))
                    .collect();
                let outputs_json: Vec<Value> = outs
                    .iter()
                    .map(|(n, t)| json!({"name": n, "type": t}))
                    .collect();
                nodes.push(json!({"id": id, "kind": "subgraph", "agent": {"id": agent_id}, "inputs": inputs, "outputs": outputs_json}));
                outputs.extend(outs.iter().map(|(n, t)| (format!("{id}.{n}"), t.clone())));
                continue;
            }
        }
        let mut inputs = Vec::new();
        for p in 0..1 + rng.below(3) {
            let ty = rng.pick(TYPES);
            let name = format!("i{p}");
            match connect(&mut rng, &outputs, &format!("{id}.{name}"), ty) {
                Some(edge) => {
                    edges.push(edge);
                    inputs.push(json!({"name": name, "type": ty}));
                }
                None => inputs.push(json!({"name": name, "type": ty, "required": false})),
            }
        }
        let mut outs = Vec::new();
        for p in 0..1 + rng.below(2) {
            let ty = rng.pick(TYPES);
            outs.push(json!({"name": format!("o{p}"), "type": ty}));
            outputs.push((format!("{id}.o{p}"), ty.to_owned()));
        }
        let kind = rng.pick(&["agent", "tool", "prompt", "router"]);
        nodes.push(json!({"id": id, "kind": kind, "label": format!("Step {i}"), "inputs": inputs, "outputs": outs,
                          "config": config(&mut rng), "position": [rng.below(100), rng.below(100)]}));
    }
    for i in 0..1 + rng.below(2) {
        let ty = rng.pick(TYPES);
        let id = format!("out{i}");
        let to = format!("{id}.value");
        let edge = connect(&mut rng, &outputs, &to, ty)
            .unwrap_or_else(|| json!({"from": outputs[0].0, "to": to}));
        // When nothing fits, an `any` port takes whatever the first input gives.
        let ty = if connect(&mut rng, &outputs, &to, ty).is_some() {
            ty
        } else {
            "any"
        };
        edges.push(edge);
        nodes.push(json!({"id": id, "kind": "output", "inputs": [{"name": "value", "type": ty}]}));
    }
    json!({"schema": 1, "nodes": nodes, "edges": edges})
}

/// Writes `value` as JSON with object keys in a shuffled order and random spacing.
fn scramble(value: &Value, rng: &mut Rng, out: &mut String) {
    let space = |rng: &mut Rng, out: &mut String| {
        out.push_str(["", " ", "\n  ", "\t"][rng.below(4) as usize]);
    };
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            for i in (1..entries.len()).rev() {
                entries.swap(i, rng.below(i as u64 + 1) as usize);
            }
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                space(rng, out);
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push(':');
                space(rng, out);
                scramble(v, rng, out);
            }
            space(rng, out);
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                space(rng, out);
                scramble(v, rng, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn parse(value: &Value) -> Graph {
    Graph::from_json(&value.to_string()).expect("generated graphs parse")
}

fn interface(g: &Graph) -> (Ports, Ports) {
    let i = orrery_core::Interface::of(g);
    let f = |ports: &[orrery_core::agents::InterfacePort]| {
        ports
            .iter()
            .map(|p| (p.name.clone(), p.ty.to_string()))
            .collect()
    };
    (f(&i.inputs), f(&i.outputs))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_digest_ignores_key_order_and_whitespace(seed: u64, shuffle: u64) {
        let doc = workflow(seed, None);
        let mut text = String::new();
        scramble(&doc, &mut Rng(shuffle | 1), &mut text);
        let scrambled = Graph::from_json(&text).unwrap();
        prop_assert_eq!(scrambled.digest(), parse(&doc).digest());
    }

    #[test]
    fn canonical_json_round_trips(seed: u64) {
        let g = parse(&workflow(seed, None));
        let canonical = g.canonical_json();
        let again = Graph::from_json(&canonical).unwrap();
        prop_assert_eq!(again.canonical_json(), canonical);
        prop_assert_eq!(again.digest(), g.digest());
    }

    #[test]
    fn a_graph_does_not_differ_from_itself(seed: u64) {
        let g = parse(&workflow(seed, None));
        prop_assert!(diff(&g, &g.clone(), &NoAgents).is_empty());
    }

    #[test]
    fn generated_graphs_are_valid(seed: u64) {
        let g = parse(&workflow(seed, None));
        let errors: Vec<String> = validate(&g, &NoAgents).iter().filter(|d| d.is_error()).map(|d| d.to_string()).collect();
        prop_assert!(errors.is_empty(), "{:?}", errors);
    }

    #[test]
    fn flattening_a_valid_graph_gives_a_valid_graph(agent_seed: u64, caller_seed: u64) {
        let agent = parse(&workflow(agent_seed, None));
        let (ins, outs) = interface(&agent);
        let mut resolver = MemoryResolver::default();
        resolver.insert("helper", agent).unwrap();
        let caller = parse(&workflow(caller_seed, Some(("helper", &ins, &outs))));
        let before: Vec<String> = validate(&caller, &resolver).iter().filter(|d| d.is_error()).map(|d| d.to_string()).collect();
        prop_assert!(before.is_empty(), "{:?}", before);
        let flat = flatten(&caller, &resolver).unwrap();
        let after: Vec<String> = validate(&flat, &resolver).iter().filter(|d| d.is_error()).map(|d| d.to_string()).collect();
        prop_assert!(after.is_empty(), "{:?}", after);
    }
}
