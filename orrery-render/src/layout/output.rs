//! Writing positions out: plain text (`x y z` per node, in id order) or JSON.

use std::fmt::Write as _;
use std::io::{self, Write};

/// Writes one `x y z` line per node, in id order. Numbers are written in their shortest form
/// that reads back to the same `f32`.
pub fn write_txt(out: &mut dyn Write, positions: &[[f32; 3]]) -> io::Result<()> {
    let mut buf = String::with_capacity(positions.len() * 32);
    for p in positions {
        let _ = writeln!(buf, "{} {} {}", p[0], p[1], p[2]);
        if buf.len() > 1 << 16 {
            out.write_all(buf.as_bytes())?;
            buf.clear();
        }
    }
    out.write_all(buf.as_bytes())
}

/// Writes `{"positions":[[x,y,z],...]}` with one array per node, in id order.
pub fn write_json(out: &mut dyn Write, positions: &[[f32; 3]]) -> io::Result<()> {
    let mut buf = String::with_capacity(positions.len() * 32 + 16);
    buf.push_str("{\"positions\":[");
    for (i, p) in positions.iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        let _ = write!(buf, "[{},{},{}]", p[0], p[1], p[2]);
        if buf.len() > 1 << 16 {
            out.write_all(buf.as_bytes())?;
            buf.clear();
        }
    }
    buf.push_str("]}\n");
    out.write_all(buf.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_round_trip_shortest_floats() {
        let pos = [[0.0, -1.5, 0.1], [1e-7, 3.0, 2.5]];
        let mut txt = Vec::new();
        write_txt(&mut txt, &pos).unwrap();
        assert_eq!(
            String::from_utf8(txt).unwrap(),
            "0 -1.5 0.1\n0.0000001 3 2.5\n"
        );
        let mut json = Vec::new();
        write_json(&mut json, &pos).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            "{\"positions\":[[0,-1.5,0.1],[0.0000001,3,2.5]]}\n"
        );
    }
}
