//! Node kinds and port types, with the compatibility relation between port types.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a node is. Unknown kinds survive parsing so that validation can report them all.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodeKind {
    /// A graph input: no input ports, exactly one output port. In a custom agent, one input of
    /// its interface.
    Input,
    /// A graph output: exactly one input port, no output ports. In a custom agent, one output of
    /// its interface.
    Output,
    /// A model-backed agent step.
    Agent,
    /// A tool call.
    Tool,
    /// A prompt template.
    Prompt,
    /// Routes its input to one of several outputs.
    Router,
    /// A reference to a custom agent (see [`AgentRef`](crate::AgentRef)).
    Subgraph,
    /// An explicit loop construct: the only place where a cycle is allowed.
    Loop,
    /// Passes one value through unchanged (a reroute point); `flatten` turns the interface
    /// nodes of inlined agents into relays.
    Relay,
    /// A comment on the canvas: no ports, no edges.
    Note,
    /// A kind this version does not know (reported by validation).
    Unknown(String),
}

/// The type of a port. Unknown types survive parsing so that validation can report them all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PortType {
    /// Anything; accepts every type and is accepted everywhere. The default.
    #[default]
    Any,
    /// A string.
    Text,
    /// A number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// Any JSON value.
    Json,
    /// A chat transcript.
    Messages,
    /// One document (text plus metadata).
    Document,
    /// A list of documents.
    Documents,
    /// An embedding vector.
    Embedding,
    /// An image.
    Image,
    /// Audio.
    Audio,
    /// A structured tool call.
    ToolCall,
    /// A type this version does not know (reported by validation).
    Unknown(String),
}

macro_rules! string_enum {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// The name as written in graph documents.
            pub fn as_str(&self) -> &str {
                match self {
                    $($ty::$variant => $name,)*
                    $ty::Unknown(s) => s,
                }
            }

            /// Parses a name; anything unrecognised becomes `Unknown`.
            pub fn from_name(s: &str) -> $ty {
                match s {
                    $($name => $ty::$variant,)*
                    other => $ty::Unknown(other.to_owned()),
                }
            }

            /// Every name this version knows, for error messages.
            pub const KNOWN: &'static [&'static str] = &[$($name),*];
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$ty, E> {
                        Ok($ty::from_name(s))
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

string_enum!(NodeKind {
    Input => "input",
    Output => "output",
    Agent => "agent",
    Tool => "tool",
    Prompt => "prompt",
    Router => "router",
    Subgraph => "subgraph",
    Loop => "loop",
    Relay => "relay",
    Note => "note",
});

string_enum!(PortType {
    Any => "any",
    Text => "text",
    Number => "number",
    Boolean => "boolean",
    Json => "json",
    Messages => "messages",
    Document => "document",
    Documents => "documents",
    Embedding => "embedding",
    Image => "image",
    Audio => "audio",
    ToolCall => "tool_call",
});

impl PortType {
    /// Whether a value of type `from` may flow into a port of type `self`.
    ///
    /// The relation, written out in `docs/graph-format.md`: `any` accepts and is accepted by
    /// everything; every type accepts itself; `json` accepts `text`, `number`, `boolean`,
    /// `messages`, `document`, `documents` and `tool_call`; `messages` accepts `text` (a user
    /// message); `documents` accepts `document` (a list of one). Unknown types accept nothing
    /// but themselves, so an unknown type is reported once, as unknown, and not again at each
    /// edge.
    pub fn accepts(&self, from: &PortType) -> bool {
        use PortType::*;
        if self == from || matches!(self, Any) || matches!(from, Any) {
            return true;
        }
        match self {
            Json => matches!(
                from,
                Text | Number | Boolean | Messages | Document | Documents | ToolCall
            ),
            Messages => matches!(from, Text),
            Documents => matches!(from, Document),
            _ => false,
        }
    }

    /// Whether this is a type this version knows.
    pub fn is_known(&self) -> bool {
        !matches!(self, PortType::Unknown(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_accepts_and_is_accepted_by_everything() {
        for name in PortType::KNOWN {
            let t = PortType::from_name(name);
            assert!(PortType::Any.accepts(&t), "any accepts {t}");
            assert!(t.accepts(&PortType::Any), "{t} accepts any");
            assert!(t.accepts(&t), "{t} accepts itself");
        }
    }

    #[test]
    fn the_relation_is_explicit() {
        assert!(PortType::Json.accepts(&PortType::Text));
        assert!(!PortType::Text.accepts(&PortType::Json));
        assert!(PortType::Messages.accepts(&PortType::Text));
        assert!(PortType::Documents.accepts(&PortType::Document));
        assert!(!PortType::Document.accepts(&PortType::Documents));
        assert!(!PortType::Number.accepts(&PortType::Text));
        assert!(!PortType::Image.accepts(&PortType::Audio));
    }

    #[test]
    fn names_round_trip_and_unknowns_survive() {
        for name in NodeKind::KNOWN {
            assert_eq!(NodeKind::from_name(name).as_str(), *name);
        }
        assert_eq!(
            NodeKind::from_name("wizard"),
            NodeKind::Unknown("wizard".into())
        );
        assert_eq!(PortType::from_name("tool_call"), PortType::ToolCall);
    }
}
