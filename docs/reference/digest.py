#!/usr/bin/env python3
"""Reference implementation of the Orrery graph digest (docs/graph-format.md), standard library only.

Usage: python3 docs/reference/digest.py GRAPH.json [--canonical]

It shares no code with the Rust implementation on purpose: the CLI tests run both on the example
graphs and compare, which checks the specification as much as either implementation.
"""

import hashlib
import json
import sys


def utf16_key(s):
    return s.encode("utf-16-be")


def number(x):
    """An IEEE-754 double printed the way ECMAScript's Number.prototype.toString prints it."""
    x = float(x)
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    r = repr(abs(x))  # shortest round-trip digits
    mantissa, _, exp = r.partition("e")
    exp = int(exp) if exp else 0
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    leading = len(int_part + frac_part) - len((int_part + frac_part).lstrip("0"))
    n = len(int_part) - leading + exp  # value = 0.digits * 10^n
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        out = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return sign + out


def jcs(value):
    """RFC 8785 serialization."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(jcs(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=utf16_key)
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + jcs(value[k]) for k in keys) + "}"
    raise TypeError(type(value))


def canonical(doc):
    def agent(a):
        return None if a is None else {"id": a["id"], "version": a.get("version", "latest")}

    def node(n):
        inputs = [
            {"multiple": p.get("multiple", False), "name": p["name"], "required": p.get("required", True), "type": p.get("type", "any")}
            for p in n.get("inputs", [])
        ]
        outputs = [{"name": p["name"], "type": p.get("type", "any")} for p in n.get("outputs", [])]
        return {
            "agent": agent(n.get("agent")),
            "config": n.get("config", {}),
            "id": n["id"],
            "inputs": sorted(inputs, key=lambda p: utf16_key(p["name"])),
            "kind": n["kind"],
            "label": n.get("label"),
            "outputs": sorted(outputs, key=lambda p: utf16_key(p["name"])),
        }

    edges = sorted(({"from": e["from"], "to": e["to"]} for e in doc.get("edges", [])),
                   key=lambda e: (utf16_key(e["from"]), utf16_key(e["to"])))
    groups = sorted(({"agent": agent(g["agent"]), "id": g["id"], "label": g.get("label")} for g in doc.get("groups", [])),
                    key=lambda g: utf16_key(g["id"]))
    nodes = sorted((node(n) for n in doc["nodes"]), key=lambda n: utf16_key(n["id"]))
    return jcs({"edges": edges, "groups": groups, "nodes": nodes, "schema": 1})


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    text = canonical(doc)
    if "--canonical" in sys.argv:
        print(text)
    else:
        print("sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest() + "  " + sys.argv[1])


if __name__ == "__main__":
    main()
