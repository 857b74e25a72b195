//! The plain edge-list format: `src dst` per line with 0-based integer ids, an optional first
//! line `# nodes N`, `#` comments and blank lines.

use crate::layout::graph::MAX_NODES;
use crate::layout::{LayoutError, LayoutGraph};

/// Parses an edge list into a [`LayoutGraph`].
///
/// Each non-blank line is `src dst`: two non-negative integer node ids separated by whitespace.
/// Everything after a `#` is a comment. The first line may be `# nodes N` to fix the node count
/// (nodes without edges then still get a position); without it the graph has `max id + 1` nodes.
/// Errors name the 1-based line number.
pub fn parse_edge_list(text: &str) -> Result<LayoutGraph, LayoutError> {
    let mut declared: Option<usize> = None;
    let mut edges: Vec<[u32; 2]> = Vec::new();
    let mut max_id: Option<usize> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if index == 0
            && let Some(count) = nodes_header(raw, line)?
        {
            declared = Some(count);
            continue;
        }
        let content = raw.split_once('#').map_or(raw, |(before, _)| before);
        let mut fields = content.split_whitespace();
        let Some(src) = fields.next() else {
            continue;
        };
        let Some(dst) = fields.next() else {
            return Err(LayoutError::MissingTarget { line });
        };
        if let Some(extra) = fields.next() {
            return Err(LayoutError::ExtraField {
                line,
                field: extra.to_owned(),
            });
        }
        let src = node_id(src, line, declared)?;
        let dst = node_id(dst, line, declared)?;
        max_id = max_id.max(Some(src.max(dst)));
        if src != dst {
            edges.push([src.min(dst) as u32, src.max(dst) as u32]);
        }
    }
    let n = match (declared, max_id) {
        (Some(n), _) => n,
        (None, Some(max)) => max + 1,
        (None, None) => 0,
    };
    if n == 0 {
        return Err(LayoutError::EmptyGraph);
    }
    Ok(LayoutGraph::from_canonical(n, edges))
}

/// Reads `# nodes N` if `raw` is such a header; other comments and edges give `None`.
fn nodes_header(raw: &str, line: usize) -> Result<Option<usize>, LayoutError> {
    let Some(comment) = raw.trim_start().strip_prefix('#') else {
        return Ok(None);
    };
    let mut words = comment.split_whitespace();
    if words.next() != Some("nodes") {
        return Ok(None);
    }
    let count = words.next().unwrap_or("");
    let n: usize = count.parse().map_err(|_| LayoutError::InvalidNodeCount {
        line,
        field: count.to_owned(),
    })?;
    if let Some(extra) = words.next() {
        return Err(LayoutError::ExtraField {
            line,
            field: extra.to_owned(),
        });
    }
    if n > MAX_NODES {
        return Err(LayoutError::TooManyNodes {
            nodes: n,
            max: MAX_NODES,
        });
    }
    Ok(Some(n))
}

/// Parses one node id and checks it against the declared node count, if any.
fn node_id(field: &str, line: usize, declared: Option<usize>) -> Result<usize, LayoutError> {
    let invalid = || LayoutError::InvalidId {
        line,
        field: field.to_owned(),
    };
    if !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let id: usize = field.parse().map_err(|_| invalid())?;
    match declared {
        Some(nodes) if id >= nodes => Err(LayoutError::NodeOutOfRange { line, id, nodes }),
        None if id >= MAX_NODES => Err(LayoutError::IdTooLarge {
            line,
            id,
            max: MAX_NODES,
        }),
        _ => Ok(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_comments_and_blank_lines() {
        let g = parse_edge_list("# nodes 5\n\n0 1 # first\n# a comment\n  1\t2  \n2 1\n").unwrap();
        assert_eq!(g.node_count(), 5);
        assert_eq!(g.edges(), &[[0, 1], [1, 2]]);
    }

    #[test]
    fn without_header_the_largest_id_sets_the_count() {
        let g = parse_edge_list("3 0\n").unwrap();
        assert_eq!(g.node_count(), 4);
    }

    #[test]
    fn a_nodes_line_after_the_first_is_a_comment() {
        let g = parse_edge_list("0 1\n# nodes 1\n").unwrap();
        assert_eq!(g.node_count(), 2);
    }
}
