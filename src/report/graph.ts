// The anon_vma / AVC graph as SVG, laid out by dagre: for the HTML report and
// the playground. Labels are escaped: text never becomes markup.

import dagre from "@dagrejs/dagre";
import type { AnonVmaGraph } from "../anon-vma.js";

/** The CSS the graph's classes need, for a page that shows it. */
export const GRAPH_STYLE = `svg.graph .node rect { fill: #eef; stroke: #669; } svg.graph .node.vma rect { fill: #efe; stroke: #696; }
svg.graph text { font: 11px system-ui, sans-serif; text-anchor: middle; }
svg.graph .edge { fill: none; stroke: #888; } svg.graph .edge.parent { stroke: #c66; stroke-dasharray: 4 2; }`;

/** Text made safe for HTML (and SVG) content and attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The anon_vma / AVC graph of one process, laid out by dagre, drawn as SVG. */
export function graphSvg(g: AnonVmaGraph): string {
  const layout = new dagre.graphlib.Graph();
  layout.setGraph({ rankdir: "LR", nodesep: 12, ranksep: 50 });
  layout.setDefaultEdgeLabel(() => ({}));
  const avId = (id: number) => `a${id}`;
  const vmaId = (proc: number, start: number) => `v${proc}:${start}`;
  for (const a of g.anonVmas) layout.setNode(avId(a.id), { label: `anon_vma ${a.id} (${a.folios} folios)`, width: 150, height: 28, kind: "anon_vma" });
  for (const v of g.vmas) layout.setNode(vmaId(v.proc, v.start), { label: `VMA ${v.start}-${v.end}`, width: 150, height: 28, kind: "vma" });
  for (const e of g.avcs) layout.setEdge(vmaId(e.proc, e.start), avId(e.anonVma), { kind: "avc" });
  for (const e of g.parents) layout.setEdge(avId(e.child), avId(e.parent), { kind: "parent" });
  dagre.layout(layout);
  const { width = 0, height = 0 } = layout.graph();
  const parts: string[] = [];
  for (const e of layout.edges()) {
    const edge = layout.edge(e) as { points: { x: number; y: number }[]; kind: string };
    const d = edge.points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
    parts.push(`<path class="edge ${edge.kind}" d="${d}"/>`);
  }
  for (const id of layout.nodes()) {
    const n = layout.node(id) as { x: number; y: number; width: number; height: number; label: string; kind: string };
    parts.push(
      `<g class="node ${n.kind}"><rect x="${n.x - n.width / 2}" y="${n.y - n.height / 2}" width="${n.width}" height="${n.height}" rx="4"/>` +
        `<text x="${n.x}" y="${n.y + 4}">${escapeHtml(n.label)}</text></g>`,
    );
  }
  return `<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="${width + 20}" height="${height + 20}" viewBox="-10 -10 ${width + 20} ${height + 20}">${parts.join("")}</svg>`;
}

