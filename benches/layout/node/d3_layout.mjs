// d3-force-3d peer for the Orrery layout comparison.
//
//   node d3_layout.mjs EDGELIST OUT [--seed S] [--theta T]
//
// EDGELIST: `src dst` per line, 0-based ids, optional `# nodes N`, `#` comments.
// OUT: one `x y z` line per node in id order.
//
// The simulation is d3-force-3d with its defaults, as a web 3D graph viewer
// uses it: forceSimulation(nodes, 3) with forceLink (default strength and
// distance 30), forceManyBody (Barnes-Hut, theta 0.9 unless --theta) and
// forceCenter; ticked synchronously until alpha < alphaMin (300 ticks with
// the default alpha decay). Timing is done by the caller (whole process).

import { readFileSync, writeFileSync } from "node:fs";
import { forceSimulation, forceLink, forceManyBody, forceCenter } from "d3-force-3d";

function usage(msg) {
  if (msg) process.stderr.write(`d3_layout: ${msg}\n`);
  process.stderr.write("usage: node d3_layout.mjs EDGELIST OUT [--seed S] [--theta T]\n");
  process.exit(2);
}

const args = process.argv.slice(2);
const positional = [];
let seed = 0;
let theta = 0.9;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--seed") seed = Number(args[++i]);
  else if (args[i] === "--theta") theta = Number(args[++i]);
  else positional.push(args[i]);
}
if (positional.length !== 2 || !Number.isFinite(seed) || !Number.isFinite(theta)) usage();
const [input, output] = positional;

let declared = -1;
const links = [];
let maxId = -1;
const lines = readFileSync(input, "utf8").split("\n");
for (let ln = 0; ln < lines.length; ln++) {
  const line = lines[ln].trim();
  if (!line) continue;
  if (line.startsWith("#")) {
    const m = /^#\s*nodes\s+(\d+)\s*$/.exec(line);
    if (m && declared < 0) declared = Number(m[1]);
    continue;
  }
  const parts = line.split("#")[0].trim().split(/\s+/);
  if (parts.length !== 2) usage(`${input}:${ln + 1}: expected 'src dst'`);
  const a = Number(parts[0]);
  const b = Number(parts[1]);
  if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < 0) usage(`${input}:${ln + 1}: bad id`);
  if (a === b) continue; // self-loops carry no layout information
  links.push({ source: a, target: b });
  if (a > maxId) maxId = a;
  if (b > maxId) maxId = b;
}
const n = Math.max(declared, maxId + 1);
const nodes = Array.from({ length: n }, (_, i) => ({ index: i }));

// Seeded LCG (same constants as d3's own), so --seed changes the jiggle.
function lcg(s) {
  let state = (s >>> 0) || 1;
  return () => (state = (1664525 * state + 1013904223) % 4294967296) / 4294967296;
}

const sim = forceSimulation(nodes, 3)
  .randomSource(lcg(seed + 1))
  .force("link", forceLink(links))
  .force("charge", forceManyBody().theta(theta))
  .force("center", forceCenter())
  .stop();

let ticks = 0;
while (sim.alpha() >= sim.alphaMin()) {
  sim.tick();
  ticks++;
}

const out = new Array(n);
for (let i = 0; i < n; i++) {
  const p = nodes[i];
  out[i] = `${p.x} ${p.y} ${p.z}`;
}
writeFileSync(output, out.join("\n") + "\n");
process.stderr.write(`d3_layout: ${n} nodes, ${links.length} links, ${ticks} ticks\n`);
