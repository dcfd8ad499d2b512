// cnncli diagram's page script: diagram.Layout in JavaScript (same rules, same constants).
// diagram_html.py fills in CONSTANTS, TREE_JSON and DEPTH_JSON.
const C = CONSTANTS, TREE = TREE_JSON, DEPTH = DEPTH_JSON;
const open = new Set(), NS = "http://www.w3.org/2000/svg";
function walk(n, f) { f(n); (n.children || []).forEach(c => walk(c, f)); }
walk(TREE, n => { if (n.children && n.path && (DEPTH === null || n.depth < DEPTH)) open.add(n.path); });
const isOpen = n => n.path === "" || open.has(n.path);
const hasKids = n => n.t !== "op" && n.children && isOpen(n);
function size(n) {
  if (n.t === "op") return [C.OPW, C.OPH];
  if (!hasKids(n)) return [C.BW, C.BH];
  const [w, h] = inner(n); return [w + 2 * C.PAD, h + C.TITLE + C.PAD];
}
function inner(n) {
  const k = n.children;
  if (n.t === "concat") return parSize(k.slice(0, -1));
  if (n.t === "res") return resSize(...resParts(n));
  return seqSize(k);
}
function columns(items) {
  const cols = [[]]; let height = 0;
  for (const it of items) {
    const h = size(it)[1];
    if (cols[cols.length - 1].length && height + C.GAP + h > C.HMAX) { cols.push([]); height = 0; }
    height = cols[cols.length - 1].length ? height + C.GAP + h : h;
    cols[cols.length - 1].push(it);
  }
  return cols;
}
function colSize(col) {
  const s = col.map(size);
  return [Math.max(...s.map(v => v[0])), s.reduce((a, v) => a + v[1], 0) + C.GAP * (s.length - 1)];
}
function seqSize(items) {
  if (!items.length) return [0, 0];
  const s = columns(items).map(colSize);
  return [s.reduce((a, v) => a + v[0], 0) + C.CGAP * (s.length - 1), Math.max(...s.map(v => v[1]))];
}
function parSize(branches) {
  const s = branches.map(branchSize);
  const w = s.reduce((a, v) => a + v[0], 0) + C.HGAP * (s.length - 1);
  return [Math.max(w, C.OPW), C.GAP + Math.max(...s.map(v => v[1])) + C.GAP + C.OPH];
}
const branchOpen = b => b.t === "seq" && b.children && isOpen(b);
function branchSize(b) { return branchOpen(b) ? seqSize(b.children) : size(b); }
function resParts(n) {
  const k = n.children, add = k.findIndex(c => c.t === "op");
  return [k.slice(0, add).filter((c, i) => i !== n.side), n.side >= 0 ? k[n.side] : null,
          k[add], k.slice(add + 1)];
}
function resSize(body, side, add, after) {
  const [bw, bh] = seqSize(body), [sw, sh] = side ? branchSize(side) : [C.LANE, 0];
  const [aw, ah] = seqSize(after);
  return [Math.max(bw + C.HGAP + sw, C.OPW, aw),
          C.GAP + Math.max(bh, sh) + C.GAP + C.OPH + (after.length ? C.GAP + ah : 0)];
}
let D;
function place(n, x, y) {
  const [w, h] = size(n);
  if (!hasKids(n)) { D.boxes.push([n, x, y, w, h]); return; }
  D.frames.push([n, x, y, w, h]);
  const [iw, ih] = inner(n), ix = x + (w - iw) / 2, iy = y + C.TITLE;
  line(x + w / 2, y, x + w / 2, iy);
  const k = n.children;
  if (n.t === "concat") placePar(k.slice(0, -1), k[k.length - 1], ix, iy);
  else if (n.t === "res") placeRes(...resParts(n), ix, iy);
  else placeSeq(k, ix, iy);
  line(x + w / 2, iy + ih, x + w / 2, y + h);
}
function placeSeq(items, x, y) {
  let cx = x, prev = null;
  for (const col of columns(items)) {
    const [cw] = colSize(col); let cy = y;
    for (const it of col) {
      const [iw, ih] = size(it), mid = cx + cw / 2;
      if (prev && prev[0] === mid) line(mid, prev[1], mid, cy);
      else if (prev) edge(`M${prev[0]},${prev[1]} V${prev[1] + C.GAP / 2} H${cx - C.CGAP / 2} V${y - C.GAP / 2} H${mid} V${cy}`);
      place(it, mid - iw / 2, cy); prev = [mid, cy + ih]; cy += ih + C.GAP;
    }
    cx += cw + C.CGAP;
  }
}
function placeBranch(b, x, y) { if (branchOpen(b)) placeSeq(b.children, x, y); else place(b, x, y); }
function placePar(branches, join, x, y) {
  const [w, h] = parSize(branches), mid = x + w / 2, s = branches.map(branchSize);
  let bx = x + (w - s.reduce((a, v) => a + v[0], 0) - C.HGAP * (s.length - 1)) / 2;
  const jy = y + h - C.OPH;
  branches.forEach((b, i) => {
    const [bw, bh] = s[i], c = bx + bw / 2;
    edge(`M${mid},${y} V${y + C.GAP / 2} H${c} V${y + C.GAP}`);
    placeBranch(b, bx, y + C.GAP);
    edge(`M${c},${y + C.GAP + bh} V${jy - C.GAP / 2} H${mid} V${jy}`);
    bx += bw + C.HGAP;
  });
  place(join, mid - C.OPW / 2, jy);
}
function placeRes(body, side, add, after, x, y) {
  const [w] = resSize(body, side, add, after), [bw, bh] = seqSize(body);
  const [sw, sh] = side ? branchSize(side) : [C.LANE, 0];
  const mid = x + w / 2, left = x + (w - bw - C.HGAP - sw) / 2, ay = y + C.GAP + Math.max(bh, sh) + C.GAP;
  const bc = left + bw / 2, sc = left + bw + C.HGAP + sw / 2;
  edge(`M${mid},${y} V${y + C.GAP / 2} H${bc} V${y + C.GAP}`);
  placeSeq(body, left, y + C.GAP);
  edge(`M${bc},${y + C.GAP + bh} V${ay - C.GAP / 2} H${mid} V${ay}`);
  if (!side) edge(`M${mid},${y} V${y + C.GAP / 2} H${sc} V${ay - C.GAP / 2} H${mid} V${ay}`, true);
  else {
    edge(`M${mid},${y} V${y + C.GAP / 2} H${sc} V${y + C.GAP}`);
    placeBranch(side, left + bw + C.HGAP, y + C.GAP);
    edge(`M${sc},${y + C.GAP + sh} V${ay - C.GAP / 2} H${mid} V${ay}`);
  }
  place(add, mid - C.OPW / 2, ay);
  if (after.length) {
    const [aw] = seqSize(after);
    line(mid, ay + C.OPH, mid, ay + C.OPH + C.GAP);
    placeSeq(after, mid - aw / 2, ay + C.OPH + C.GAP);
  }
}
function line(x1, y1, x2, y2) { if (y2 > y1) edge(`M${x1},${y1} V${y2}`); }
function edge(d, dashed) { D.edges.push([d, !!dashed]); }
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
function draw() {
  D = {boxes: [], frames: [], edges: []};
  const [w, h] = seqSize(TREE.children);
  placeSeq(TREE.children, C.MARGIN, C.MARGIN);
  const svg = document.getElementById("drawing");
  svg.replaceChildren();
  svg.setAttribute("width", w + 2 * C.MARGIN); svg.setAttribute("height", h + 2 * C.MARGIN);
  svg.setAttribute("viewBox", `0 0 ${w + 2 * C.MARGIN} ${h + 2 * C.MARGIN}`);
  for (const [n, x, y, fw, fh] of D.frames) {
    const g = el("g", {class: "frame", "data-path": n.path, "data-open": "true"});
    g.append(el("rect", {x, y, width: fw, height: fh, rx: 6, fill: "#f7f9fc", stroke: "#9aa7b8", "stroke-dasharray": "4 3"}));
    g.append(el("text", {x: x + 8, y: y + 15, class: "title"}, `▾ ${n.path} (${n.type}) · ${n.output}`));
    g.addEventListener("click", ev => { if (ev.target.tagName === "text") { open.delete(n.path); show(n); draw(); } });
    svg.append(g);
  }
  for (const [d, dashed] of D.edges) svg.append(el("path", Object.assign({d, fill: "none", stroke: "#6b7785", "stroke-width": 1.2}, dashed ? {"stroke-dasharray": "5 3"} : {})));
  for (const [n, x, y, bw, bh] of D.boxes) {
    const closed = n.children && n.t !== "op";
    const g = el("g", {class: "box" + (closed ? " closed" : ""), "data-path": n.path});
    if (n.t === "op") {
      g.append(el("rect", {x, y, width: bw, height: bh, rx: 12, fill: "#eef2f7", stroke: "#7a8799"}));
      g.append(el("text", {x: x + bw / 2, y: y + 16, "text-anchor": "middle", class: "op"}, ({add: "⊕ add", mul: "⊗ gate"})[n.type] || n.type));
    } else {
      const name = n.path.length <= 28 ? n.path : "…" + n.path.slice(-27);
      g.append(el("rect", {x, y, width: bw, height: bh, rx: 4, fill: fill(n.share), stroke: "#5b6675"}));
      g.append(el("text", {x: x + 8, y: y + 17, class: "name"}, (closed ? "▸ " : "") + name));
      g.append(el("text", {x: x + 8, y: y + 33, class: "info"}, `${n.type} · ${n.output}` + (n.macs ? ` · ${(100 * n.share).toFixed(1)}%` : "")));
      if (n.macs) g.append(el("rect", {x: x + 1, y: y + bh - 4, width: Math.max(2, (bw - 2) * n.share), height: 3, fill: "#c0392b"}));
    }
    g.addEventListener("click", () => { show(n); if (closed) { open.add(n.path); draw(); } });
    svg.append(g);
  }
}
function show(n) {
  const rows = [["layer", n.path], ["type", n.type], ["output", n.output], ["params", n.params.toLocaleString("en-US")],
    ["MACs", `${n.macs.toLocaleString("en-US")} (${(100 * n.share).toFixed(2)}%)`], ["FLOPs", n.flops.toLocaleString("en-US")],
    ["other ops", n.other_ops.toLocaleString("en-US")], ["RF/stride", n.rf], ["spec", n.spec || "—"]];
  const t = document.getElementById("details");
  t.replaceChildren(...rows.map(([k, v]) => { const r = document.createElement("tr");
    r.innerHTML = "<th></th><td></td>"; r.cells[0].textContent = k; r.cells[1].textContent = v; return r; }));
}
const m = location.hash.match(/expand=([^&]*)/);
if (m) decodeURIComponent(m[1]).split(",").forEach(p => open.add(p));
draw();
