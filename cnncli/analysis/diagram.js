// cnncli diagram's page script: draws what diagram.Layout placed (diagram_html.py embeds the
// drawing at the asked depth and one per block a click opens) and switches between them; it
// lays out nothing itself. Labels are fitted as diagram_header.py fits them (at a dot or a
// space, never inside a word).
const C = CONSTANTS, DRAWINGS = DRAWINGS_JSON, DEPTH = DEPTH_JSON, NS = "http://www.w3.org/2000/svg";
const NODES = DRAWINGS.nodes, STATES = DRAWINGS.states;
let zoom = 1, state = "";  // "": the drawing at DEPTH; else the block opened by a click
const shutByDepth = n => !(DEPTH === null || n.depth < DEPTH);
function ancestors(path) {  // the blocks a path sits in, innermost first
  const parts = path.split("."), out = [];
  for (let i = parts.length - 1; i > 0; i--) out.push(parts.slice(0, i).join("."));
  return out;
}
function closing(path) {  // the drawing with block `path` shut: its nearest opened ancestor's
  if (!shutByDepth(NODES[path])) return "-" + path;  // open at DEPTH: the drawing without it
  return ancestors(path).find(p => STATES[p] && shutByDepth(NODES[p])) || "";
}
const closable = path => shutByDepth(NODES[path]) ? path === state || state.startsWith(path + ".")
  : state === "" && STATES["-" + path] !== undefined;
function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function fill(share) {
  const t = Math.sqrt(Math.min(1, share));
  return "#" + [240, 140, 50].map(v => Math.round(255 + (v - 255) * t).toString(16).padStart(2, "0")).join("");
}
const room = (w, cls) => Math.floor(w / C.PX[cls]);
function fitPath(path, chars) {
  if (path.length <= chars) return path;
  const parts = path.split(".");
  for (let i = 1; i < parts.length; i++) { const t = "…" + parts.slice(i).join("."); if (t.length <= chars) return t; }
  return "…" + parts[parts.length - 1];
}
const fitFirst = (cands, chars) => cands.find(c => c.length <= chars) || cands[cands.length - 1];
function text(x, y, cls, label, width) {
  const attrs = {x, y, class: cls};
  if (label.length * C.PX[cls] > width) Object.assign(attrs, {textLength: width, lengthAdjust: "spacingAndGlyphs"});
  return el("text", attrs, label);
}
function infoLabel(n, chars) {
  const base = `${n.type} · ${n.output}`;
  return fitFirst([n.macs ? `${base} · ${(100 * n.share).toFixed(1)}%` : base, base], chars);
}
function frameLabel(n, chars) {
  const p = n.path, t = n.type;
  return fitFirst([`${p} (${t}) · ${n.output}`, `${p} (${t})`, `${fitPath(p, chars - t.length - 3)} (${t})`], chars);
}
const EDGE = {"": {}, dashed: {"stroke-dasharray": "5 3"}, arrow: {"marker-end": "url(#arrow)"}};
function go(to) { state = to; draw(); }
function draw() {
  const D = STATES[state], [W, H] = D.size, svg = document.getElementById("drawing");
  svg.replaceChildren();
  svg.innerHTML = C.DEFS;
  svg.setAttribute("width", W * zoom); svg.setAttribute("height", H * zoom);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  for (const [path, x, y, fw, fh] of D.frames) {
    const n = NODES[path], shuts = closable(path);
    const g = el("g", {class: "frame", "data-path": path, "data-open": "true"});
    g.append(el("rect", {x, y, width: fw, height: fh, rx: 6, fill: C.FRAME_FILL, stroke: "#b4c0ce"}));
    g.append(text(x + 8, y + 15, "title", (shuts ? "▾ " : "") + frameLabel(n, room(fw - 16, "title") - (shuts ? 2 : 0)), fw - 16));
    g.addEventListener("click", ev => { if (ev.target.tagName === "text") { show(n); if (shuts) go(closing(path)); } });
    svg.append(g);
  }
  for (const [d, style] of D.edges) svg.append(el("path", Object.assign({d, fill: "none", stroke: "#6b7785", "stroke-width": 1.2}, EDGE[style])));
  for (const [path, x, y, bw, bh] of D.boxes) {
    const reopen = state === "-" + path, n = NODES[path];
    const closed = n.block && (reopen || STATES[path] !== undefined);
    const g = el("g", {class: "box" + (closed ? " closed" : "") + (n.t === "in" ? " input" : ""), "data-path": path});
    if (n.t === "op") {
      g.append(el("rect", {x, y, width: bw, height: bh, rx: 12, fill: C.OP_FILL, stroke: "#7a8799"}));
      g.append(el("text", {x: x + bw / 2, y: y + 16, "text-anchor": "middle", class: "op"}, C.OP_LABELS[n.type] || n.type));
    } else {
      const chars = room(bw - 16, "name") - (closed ? 2 : 0);
      const name = n.t === "in" ? n.name : fitPath(n.path, chars);
      g.append(el("rect", {x, y, width: bw, height: bh, rx: 4, fill: n.t === "in" ? C.INPUT_FILL : fill(n.share), stroke: "#5b6675"}));
      g.append(text(x + 8, y + 17, "name", (closed ? "▸ " : "") + name, bw - 16));
      g.append(text(x + 8, y + 33, "info", infoLabel(n, room(bw - 16, "info")), bw - 16));
      if (n.macs) g.append(el("rect", {x: x + 1, y: y + bh - 4, width: Math.max(2, Math.round((bw - 2) * n.share * 10) / 10), height: 3, fill: "#c0392b"}));
    }
    g.addEventListener("click", () => { show(n); if (closed) go(reopen ? "" : path); });
    svg.append(g);
  }
  for (const [a, b, d, label, shape] of D.reads) {
    svg.append(el("path", {class: "read", "data-from": a, "data-to": b, d, fill: "none", stroke: "#2f6db5", "stroke-width": 1.4, "marker-end": "url(#read)"}));
    if (label) {
      const [x, y, along] = label;
      svg.append(el("text", Object.assign({class: "edge", x, y}, along ? {transform: `rotate(-90 ${x} ${y})`, "text-anchor": "middle"} : {}), shape));
    }
  }
  for (const [p, i, name, [x, y, w, h]] of D.marks) {
    const g = el("g", {class: "output-mark", "data-path": p});
    g.append(el("title", {}, `network output ${i}: ${name}`));
    g.append(el("rect", {x: x - 2, y: y - 2, width: w + 4, height: h + 4, rx: 6, fill: "none", stroke: "#1d2530", "stroke-width": 2}));
    const [tx, ty, anchor] = h >= 40 ? [x + w - 6, y + 13, "end"] : [x + w + 6, y + h / 2 + 4, "start"];  // diagram_graph.tag_place
    g.append(el("text", {class: "tag", x: tx, y: ty, "text-anchor": anchor}, `output ${i}`));
    svg.append(g);
  }
}
function setZoom(z) { zoom = z; document.getElementById("zoom").textContent = `${Math.round(z * 100)}%`; draw(); }
function show(n) {
  const rows = [["layer", n.path], ["type", n.type], ["output", n.output], ["params", n.params.toLocaleString("en-US")],
    ["MACs", `${n.macs.toLocaleString("en-US")} (${(100 * n.share).toFixed(2)}%)`], ["FLOPs", n.flops.toLocaleString("en-US")],
    ["other ops", n.other_ops.toLocaleString("en-US")], ["RF/stride", n.rf], ["spec", n.spec || "—"]];
  const t = document.getElementById("details");
  t.replaceChildren(...rows.map(([k, v]) => { const r = document.createElement("tr");
    r.innerHTML = "<th></th><td></td>"; r.cells[0].textContent = k; r.cells[1].textContent = v; return r; }));
}
const m = location.hash.match(/expand=([^&]*)/);
if (m) state = decodeURIComponent(m[1]).split(",").filter(p => STATES[p] !== undefined).pop() || "";
document.getElementById("smaller").addEventListener("click", () => setZoom(Math.max(0.25, zoom / 1.25)));
document.getElementById("larger").addEventListener("click", () => setZoom(Math.min(2, zoom * 1.25)));
document.getElementById("zoom").addEventListener("click", () => setZoom(1));
draw();
if (location.hash.includes("measure")) {
  // for the browser test: does the page fit the window, and which elements scroll?
  const d = document.documentElement, scrolls = [...document.querySelectorAll("*")].filter(e => {
    const s = getComputedStyle(e);
    return (/auto|scroll/.test(s.overflowY) && e.scrollHeight > e.clientHeight) ||
           (/auto|scroll/.test(s.overflowX) && e.scrollWidth > e.clientWidth); });
  d.dataset.measure = JSON.stringify({width: d.scrollWidth, height: d.scrollHeight,
    window: [innerWidth, innerHeight], scrolls: scrolls.map(e => e.id || e.tagName)});
}
if (location.hash.includes("edges")) {
  // for the browser test: where each read edge starts and ends as rendered, and the boxes
  const box = p => document.querySelector(`g.box[data-path="${CSS.escape(p)}"] rect, g.frame[data-path="${CSS.escape(p)}"] rect`).getBBox();
  const pt = q => ({x: q.x, y: q.y}), bb = b => ({x: b.x, y: b.y, width: b.width, height: b.height});
  document.documentElement.dataset.edges = JSON.stringify([...document.querySelectorAll("path.read")].map(p => ({
    from: p.dataset.from, to: p.dataset.to, start: pt(p.getPointAtLength(0)), end: pt(p.getPointAtLength(p.getTotalLength())),
    fromBox: bb(box(p.dataset.from)), toBox: bb(box(p.dataset.to))})));
}
