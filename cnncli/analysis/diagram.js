// cnncli diagram's page script: diagram.Layout in JavaScript (same rules, same constants).
// diagram_html.py fills in CONSTANTS, TREE_JSON and DEPTH_JSON. Labels are fitted as
// diagram_header.py fits them (at a dot or a space, never inside a word).
const C = CONSTANTS, TREE = TREE_JSON, DEPTH = DEPTH_JSON;
let hmax = Infinity, zoom = 1, memo = new Map();  // memo: size and offsets by node
const cached = (kind, n, f) => { const k = memo.get(n) || {}; memo.set(n, k); return k[kind] || (k[kind] = f(n)); };
const open = new Set(), NS = "http://www.w3.org/2000/svg";
function walk(n, f) { f(n); (n.children || []).forEach(c => walk(c, f)); }
walk(TREE, n => { if (n.children && n.path && (DEPTH === null || n.depth < DEPTH)) open.add(n.path); });
const isOpen = n => n.path === "" || open.has(n.path);
const hasKids = n => n.t !== "op" && n.children && isOpen(n);
const size = n => cached("size", n, size_);
function size_(n) {
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
    const last = cols[cols.length - 1];
    if (last.length && height + C.GAP + h > hmax && last[last.length - 1].t !== "in") { cols.push([]); height = 0; }
    height = cols[cols.length - 1].length ? height + C.GAP + h : h;
    cols[cols.length - 1].push(it);
  }
  return cols;
}
const offsets = n => cached("offsets", n, offsets_);
function offsets_(n) {  // where n is entered and left, from its left edge (diagram.Layout.offsets)
  const [w] = size(n);
  if (n.t !== "seq" || !hasKids(n)) return [w / 2, w / 2];
  const [into, out] = ends(n.children, (w - inner(n)[0]) / 2, 0);
  return [into, out];
}
const spine = col => Math.max(...col.map(i => offsets(i)[0]));
function colSize(col) {
  const s = col.map(size), right = Math.max(...col.map((i, k) => s[k][0] - offsets(i)[0]));
  return [spine(col) + right, s.reduce((a, v) => a + v[1], 0) + C.GAP * (s.length - 1)];
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
function branchSize(b) { return b.t === "pass" ? [C.LANE, 0] : branchOpen(b) ? seqSize(b.children) : size(b); }
function ends(items, x, y) {
  if (!items.length) return [x, x, y];
  const cols = columns(items), first = x + spine(cols[0]), lastCol = cols[cols.length - 1];
  for (const col of cols.slice(0, -1)) x += colSize(col)[0] + C.CGAP;
  const [into, out] = offsets(lastCol[lastCol.length - 1]);
  return [first, x + spine(lastCol) - into + out, y + colSize(lastCol)[1]];
}
function branchEnds(b, x, y) {
  if (b.t === "pass") return [x + C.LANE / 2, x + C.LANE / 2, y];
  if (branchOpen(b)) return ends(b.children, x, y);
  const [into, out] = offsets(b), h = branchSize(b)[1]; return [x + into, x + out, y + h];
}
function resParts(n) {
  const k = n.children, add = k.findIndex(c => c.path === `${n.path}.(add)`);  // not a join
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
  const [iw, ih] = inner(n), ix = x + (w - iw) / 2, iy = y + C.TITLE, k = n.children;
  const [into, out] = offsets(n), oy = n.t === "seq" ? ends(k, ix, iy)[2] : iy + ih;
  line(x + into, y, x + into, iy);
  if (n.t === "concat") placePar(k.slice(0, -1), k[k.length - 1], ix, iy);
  else if (n.t === "res") placeRes(...resParts(n), ix, iy);
  else placeSeq(k, ix, iy);
  line(x + out, oy, x + out, y + h);
}
function placeSeq(items, x, y) {
  let cx = x, prev = null;
  for (const col of columns(items)) {
    const sp = cx + spine(col); let cy = y;
    col.forEach((it, i) => {
      const [into, out] = offsets(it), ih = size(it)[1];
      if (it.reads && it.reads.length) {}  // it reads named outputs: their edges (route)
      else if (prev && i === 0) edge(`M${prev[0]},${prev[1]} V${prev[1] + C.GAP / 2} H${cx - C.CGAP / 2} V${y - 4} H${sp} V${cy}`, "arrow");
      else if (prev && prev[0] === sp) line(sp, prev[1], sp, cy);
      else if (prev) edge(`M${prev[0]},${prev[1]} V${cy - C.GAP / 2} H${sp} V${cy}`);
      place(it, sp - into, cy); prev = [sp - into + out, cy + ih]; cy += ih + C.GAP;
    });
    cx += colSize(col)[0] + C.CGAP;
  }
}
function placeBranch(b, x, y) { if (branchOpen(b)) placeSeq(b.children, x, y); else place(b, x, y); }
function placePar(branches, join, x, y) {
  const [w, h] = parSize(branches), mid = x + w / 2, s = branches.map(branchSize);
  let bx = x + (w - s.reduce((a, v) => a + v[0], 0) - C.HGAP * (s.length - 1)) / 2;
  const jy = y + h - C.OPH;
  branches.forEach((b, i) => {
    const [into, out, oy] = branchEnds(b, bx, y + C.GAP);
    if (b.t === "pass") edge(`M${mid},${y} V${y + C.GAP / 2} H${into} V${jy - C.GAP / 2} H${mid} V${jy}`, "dashed");
    else {
      edge(`M${mid},${y} V${y + C.GAP / 2} H${into} V${y + C.GAP}`);
      placeBranch(b, bx, y + C.GAP);
      edge(`M${out},${oy} V${jy - C.GAP / 2} H${mid} V${jy}`);
    }
    bx += s[i][0] + C.HGAP;
  });
  place(join, mid - C.OPW / 2, jy);
}
function placeRes(body, side, add, after, x, y) {
  const [w] = resSize(body, side, add, after), [bw, bh] = seqSize(body);
  const [sw, sh] = side ? branchSize(side) : [C.LANE, 0];
  const mid = x + w / 2, left = x + (w - bw - C.HGAP - sw) / 2, ay = y + C.GAP + Math.max(bh, sh) + C.GAP;
  const [into, out, oy] = ends(body, left, y + C.GAP), sc = left + bw + C.HGAP + sw / 2;
  const [sin, sout, soy] = side ? branchEnds(side, sc - sw / 2, y + C.GAP) : [sc, sc, 0];
  edge(`M${mid},${y} V${y + C.GAP / 2} H${into} V${y + C.GAP}`);
  placeSeq(body, left, y + C.GAP);
  edge(`M${out},${oy} V${ay - C.GAP / 2} H${mid} V${ay}`);
  if (!side) edge(`M${mid},${y} V${y + C.GAP / 2} H${sc} V${ay - C.GAP / 2} H${mid} V${ay}`, "dashed");
  else {
    edge(`M${mid},${y} V${y + C.GAP / 2} H${sin} V${y + C.GAP}`);
    placeBranch(side, left + bw + C.HGAP, y + C.GAP);
    edge(`M${sout},${soy} V${ay - C.GAP / 2} H${mid} V${ay}`);
  }
  place(add, mid - C.OPW / 2, ay);
  if (after.length) {
    const [aw] = seqSize(after), into = ends(after, mid - aw / 2, 0)[0];
    edge(`M${mid},${ay + C.OPH} V${ay + C.OPH + C.GAP / 2} H${into} V${ay + C.OPH + C.GAP}`);
    placeSeq(after, mid - aw / 2, ay + C.OPH + C.GAP);
  }
}
// graph networks: diagram_graph.py's reads, U layout and routing, rule for rule
function* walkAll(n) { yield n; for (const c of n.children || []) yield* walkAll(c); }
const readsOf = root => [...walkAll(root)].flatMap(n => (n.reads || []).map(s => [s, n.path]));
function owner(path, paths) {
  let best = null;
  for (const q of paths) if ((path === q || path.startsWith(q + ".")) && (best === null || q.length > best.length)) best = q;
  return best;
}
function uTurn(items) {  // diagram_graph.u_turn
  const paths = items.map(i => i.path), far = [];
  items.forEach((it, i) => { for (const [src] of readsOf(it)) {
    const o = owner(src, paths), j = o === null ? -1 : paths.indexOf(o);
    if (1 <= j && j < i - 1) far.push([i, j]);
  } });
  return far.length && far.some(([i, j]) => i > far[0][0] && j < far[0][1]) ? far[0][0] : null;
}
function uCrossing(items, turn) {
  const enc = items.slice(0, turn).map(i => i.path);
  return items.slice(turn).reduce((a, it) => a + readsOf(it).filter(([s]) => owner(s, enc) !== null).length, 0);
}
const uGap = (items, turn) => C.CGAP + C.LANE_STEP * uCrossing(items, turn);
function uSize(items, turn) {
  const [ew, eh] = colSize(items.slice(0, turn)), [dw, dh] = colSize(items.slice(turn));
  return [ew + uGap(items, turn) + dw, Math.max(eh, dh)];
}
function placeU(items, turn, x, y) {
  const enc = items.slice(0, turn), dec = items.slice(turn), [ew, eh] = colSize(enc), dh = colSize(dec)[1];
  const bottom = y + Math.max(eh, dh);
  placeSeq(enc, x, bottom - eh);
  const [, ex, ey] = ends(enc, x, bottom - eh), sp = x + ew + uGap(items, turn) + spine(dec);
  let cy = bottom, prev = [ex, ey];
  for (const it of dec) {
    const [into, out] = offsets(it), ih = size(it)[1];
    if (!(it.reads && it.reads.length)) edge(`M${prev[0]},${prev[1]} V${cy + C.GAP / 2} H${sp - into + out} V${cy}`, "arrow");
    place(it, sp - into, cy - ih);
    prev = [sp, cy - ih]; cy = cy - ih - C.GAP;
  }
}
function route(root) {
  const rects = new Map();
  for (const [n, x, y, w, h] of D.frames) rects.set(n.path, [x, y, w, h, false]);
  for (const [n, x, y, w, h] of D.boxes) rects.set(n.path, [x, y, w, h, true]);
  const shapes = new Map([...walkAll(root)].map(n => [n.path, n.output]));
  const r = new Router(rects), done = new Set(), paths = [...rects.keys()];
  for (const [src, reader] of readsOf(root)) {
    const a = owner(src, paths), b = owner(reader, paths);
    if (a === null || b === null || a === b || done.has(a + "\n" + b)) continue;
    done.add(a + "\n" + b);
    const shape = shapes.get(src) || "";
    D.reads.push([a, b, ...r.edge(a, b, shape), shape]);
  }
  D.right = Math.max(0, ...r.lanes.map(l => l[0] + C.LANE_STEP + 20));
  D.bottom = Math.max(0, ...r.rows.map(l => l[0] + 20));
  (root.outputs || []).forEach(([name, path], i) => {
    const p = owner(path, paths);
    if (p !== null) D.marks.push([p, i + 1, name, rects.get(p).slice(0, 4)]);
  });
}
const fit = (label, run, shape) => Math.abs(run) >= (label[2] ? shape.length * 6.2 + 12 : 14) ? label : null;
class Router {  // diagram_graph.Router
  constructor(rects) {
    this.rects = rects; this.lanes = []; this.rows = [];
    this.bottom = Math.max(0, ...[...rects.values()].map(([, y, , h]) => y + h));
  }
  edge(a, b, shape) {
    const [sx, sy, sw, sh, sbox] = this.rects.get(a), [rx, ry, rw, rh, rbox] = this.rects.get(b), cx = sx + sw / 2;
    if (Math.abs(cx - (rx + rw / 2)) < 1 && this.clear(a, b, cx)) {
      const [y0, y1] = sy + sh <= ry ? [sy + sh, ry] : [sy, ry + rh];
      return [`M${cx},${y0} V${y1}`, fit([cx + 5, (y0 + y1) / 2 + 4, false], y1 - y0, shape)];
    }
    const ya = sy + (sbox ? sh / 2 : sh - 12), yb = ry + (rbox ? rh / 2 : 12), lo = Math.min(ya, yb), hi = Math.max(ya, yb);
    if (rx < sx + sw) {
      const lane = this.lane(this.side(Math.min(sx, rx), Math.max(sx + sw, rx + rw), lo, hi, 1) + 10, lo, hi, 1);
      return [`M${sx + sw},${ya} H${lane} V${yb} H${rx + rw}`, fit([lane - 3, (lo + hi) / 2, true], hi - lo, shape)];
    }
    const lane = this.lane(this.side(sx, sx + sw, lo, hi, 1) + 10, lo, hi, 1, false);
    if (!(this.blocked(a, b, sx + sw, lane, ya) || this.blocked(a, b, lane, rx, yb))) {
      this.lanes.push([lane, lo, hi]);
      return [`M${sx + sw},${ya} H${lane} V${yb} H${rx}`, fit([lane - 3, (lo + hi) / 2, true], hi - lo, shape)];
    }
    const out = this.lane(this.side(sx, sx + sw, ya, this.bottom, 1) + 10, ya, this.bottom, 1);
    const into = this.lane(this.side(rx, rx + rw, yb, this.bottom, -1) - 10, yb, this.bottom, -1);
    const y = this.row(out, into);
    return [`M${sx + sw},${ya} H${out} V${y} H${into} V${yb} H${rx}`, fit([into - 3, (yb + y) / 2, true], y - yb, shape)];
  }
  side(left, right, lo, hi, way) {
    const xs = [...this.rects.values()].filter(([x, y, w, h]) => x < right && x + w > left && y < hi && y + h > lo).map(([x, , w]) => way > 0 ? x + w : x);
    return way > 0 ? Math.max(right, ...xs) : Math.min(left, ...xs);
  }
  lane(x, lo, hi, way, take = true) {
    while (this.lanes.some(([lx, y0, y1]) => Math.abs(x - lx) < C.LANE_STEP - 1 && y0 < hi + 4 && y1 > lo - 4)) x += way * C.LANE_STEP;
    if (take) this.lanes.push([x, lo, hi]);
    return x;
  }
  row(x0, x1) {
    const lo = Math.min(x0, x1), hi = Math.max(x0, x1); let y = this.bottom + 10;
    while (this.rows.some(([ry, a, b]) => Math.abs(y - ry) < 7 && a < hi + 4 && b > lo - 4)) y += 8;
    this.rows.push([y, lo, hi]);
    return y;
  }
  blocked(a, b, x0, x1, y) {
    const lo = Math.min(x0, x1), hi = Math.max(x0, x1);
    return [...this.rects].some(([p, [x, ry, w, h]]) => !(a === p || a.startsWith(p + ".") || b === p || b.startsWith(p + "."))
      && x < hi && x + w > lo && ry < y && y < ry + h);
  }
  clear(a, b, x) {
    const [, ay, , ah] = this.rects.get(a), [, by, , bh] = this.rects.get(b);
    const lo = Math.min(ay + ah, by + bh), hi = Math.max(ay, by);
    return ![...this.rects].some(([p, [rx, ry, rw, rh, box]]) => p !== a && p !== b && box && rx < x && x < rx + rw && ry < hi && ry + rh > lo);
  }
}
function line(x1, y1, x2, y2) { if (y2 > y1) edge(`M${x1},${y1} V${y2}`); }
function edge(d, style) { D.edges.push([d, style || ""]); }
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
function draw() {
  D = {boxes: [], frames: [], edges: [], reads: [], marks: []};
  let [w, h] = measure(Infinity);
  const turn = uTurn(TREE.children), u = turn === null ? null : uSize(TREE.children, turn);
  if (u && u[0] >= C.U_ASPECT * u[1]) { [w, h] = u; placeU(TREE.children, turn, C.MARGIN, C.MARGIN); }
  else {
  const column = Math.max(C.HMIN, Math.floor(Math.sqrt(h * (w + C.CGAP) / C.ASPECT)));
  const tallest = Math.max(...TREE.children.map(c => size(c)[1]));
  [w, h] = measure(column);
  if (column < tallest && tallest <= 2 * column) {  // as diagram.Layout.run
    const tall = measure(tallest);
    [w, h] = tall[1] <= 2 * tall[0] ? tall : measure(column);
  }
  for (let i = 0; i < 3 && w > C.ASPECT * 1.2 * h; i++)  // as diagram.Layout.run
    [w, h] = measure(Math.floor(hmax * Math.sqrt(w / (C.ASPECT * h))));
  placeSeq(TREE.children, C.MARGIN, C.MARGIN);
  }
  route(TREE);
  const svg = document.getElementById("drawing"), W = Math.max(w + 2 * C.MARGIN, D.right), H = Math.max(h + 2 * C.MARGIN, D.bottom);
  svg.replaceChildren();
  svg.innerHTML = C.DEFS;
  svg.setAttribute("width", W * zoom); svg.setAttribute("height", H * zoom);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  for (const [n, x, y, fw, fh] of D.frames) {
    const g = el("g", {class: "frame", "data-path": n.path, "data-open": "true"});
    g.append(el("rect", {x, y, width: fw, height: fh, rx: 6, fill: C.FRAME_FILL, stroke: "#b4c0ce"}));
    g.append(text(x + 8, y + 15, "title", "▾ " + frameLabel(n, room(fw - 16, "title") - 2), fw - 16));
    g.addEventListener("click", ev => { if (ev.target.tagName === "text") { open.delete(n.path); show(n); draw(); } });
    svg.append(g);
  }
  for (const [d, style] of D.edges) svg.append(el("path", Object.assign({d, fill: "none", stroke: "#6b7785", "stroke-width": 1.2}, EDGE[style])));
  for (const [n, x, y, bw, bh] of D.boxes) {
    const closed = n.children && n.t !== "op";
    const g = el("g", {class: "box" + (closed ? " closed" : "") + (n.t === "in" ? " input" : ""), "data-path": n.path});
    if (n.t === "op") {
      g.append(el("rect", {x, y, width: bw, height: bh, rx: 12, fill: C.OP_FILL, stroke: "#7a8799"}));
      g.append(el("text", {x: x + bw / 2, y: y + 16, "text-anchor": "middle", class: "op"}, C.OP_LABELS[n.type] || n.type));
    } else {
      const chars = room(bw - 16, "name") - (closed ? 2 : 0);
      const name = n.t === "in" ? n.name : fitPath(n.path, chars);
      g.append(el("rect", {x, y, width: bw, height: bh, rx: 4, fill: n.t === "in" ? C.INPUT_FILL : fill(n.share), stroke: "#5b6675"}));
      g.append(text(x + 8, y + 17, "name", (closed ? "▸ " : "") + name, bw - 16));
      g.append(text(x + 8, y + 33, "info", infoLabel(n, room(bw - 16, "info")), bw - 16));
      if (n.macs) g.append(el("rect", {x: x + 1, y: y + bh - 4, width: Math.max(2, (bw - 2) * n.share), height: 3, fill: "#c0392b"}));
    }
    g.addEventListener("click", () => { show(n); if (closed) { open.add(n.path); draw(); } });
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
function measure(columnHeight) { hmax = columnHeight; memo = new Map(); return seqSize(TREE.children); }
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
if (m) decodeURIComponent(m[1]).split(",").forEach(p => open.add(p));
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
