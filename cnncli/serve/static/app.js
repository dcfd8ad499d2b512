// The playground page: sends the editor's text to the server as you type (debounced) and
// shows what comes back. Every figure, the table and the diagram (an SVG laid out by
// cnncli's own diagram code) come from the server; this script only places, colours and
// toggles what it is given. A share link carries the spec in the fragment (#spec=...),
// deflated and base64url-encoded: the fragment never reaches any server.
"use strict";

const $ = sel => document.querySelector(sel);
const DEBOUNCE = 150;  // ms after the last keystroke
const state = {name: "", sets: {}, opened: new Set(), result: null, goodText: null,
               previous: null, picked: null, seq: 0, zoom: 1, paramNames: ""};
let editor, timer = null;

async function post(job, body) {
  const r = await fetch(`api/${job}`, {method: "POST", headers: {"Content-Type": "application/json"},
                                       body: JSON.stringify(body)});
  const answer = await r.json();
  if (!r.ok && !answer.error) answer.error = {message: `HTTP ${r.status}`};
  return answer;
}

function request(extra) {
  const names = new Set((state.result ? state.result.params : []).map(p => p.name));
  const set = Object.fromEntries(Object.entries(state.sets).filter(([k]) => names.has(k)));
  const depth = $("#depth").value;
  return Object.assign({spec: editor.value, set, input: $("#input").value.trim() || null,
                        batch: Number($("#batch").value) || 1,
                        depth: depth ? Number(depth) : null, open: [...state.opened]}, extra);
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(analyze, DEBOUNCE);
}

async function analyze() {
  const seq = ++state.seq, text = editor.value;
  setStatus("analysing…");
  const t0 = performance.now(), answer = await post("analyze", request());
  if (seq !== state.seq) return;  // a newer keystroke's answer is on its way
  if (answer.error) { showError(answer.error); return; }
  if (state.goodText !== null && state.goodText !== text) state.previous = state.goodText;
  state.goodText = text;
  showResult(answer);
  setStatus(`analysed in ${Math.round(performance.now() - t0)} ms`);
}

function setStatus(text) { $("#status").textContent = text; }

// -- a wrong spec: the message at its line, the last good analysis greyed -------------------
function showError(err) {
  const box = $("#error");
  box.hidden = false;
  box.textContent = err.message;
  const here = err.line && (!err.file || err.file === state.name);
  box.dataset.line = here ? err.line : "";
  editor.mark(here ? err.line : null);
  $("#result").classList.add("stale");
  setStatus("the spec has an error; the last good analysis is greyed");
}

function clearError() {
  $("#error").hidden = true;
  $("#error").dataset.line = "";
  editor.mark(null);
  $("#result").classList.remove("stale");
}

// -- a good answer ---------------------------------------------------------------------------
function showResult(r) {
  const before = state.result && state.result.summary.totals;
  state.result = r;
  clearError();
  cards(r.summary, before);
  table(r);
  diagram(r);
  params(r.params);
  depths(r.max_depth);
}

const fmt = n => n.toLocaleString("en-US");
function human(n) {
  for (const [u, s] of [["T", 1e12], ["G", 1e9], ["M", 1e6], ["K", 1e3]])
    if (Math.abs(n) >= s) return `${(n / s).toFixed(2)} ${u}`;
  return String(n);
}
const mib = n => `${(n / 2 ** 20).toFixed(2)} MiB`;

function cards(summary, before) {
  const t = summary.totals, out = $("#cards");
  const shown = [["params", "params", human], ["macs", "MACs", human], ["flops", "FLOPs", human],
                 ["activation_bytes", "activation memory", mib], ["param_bytes", "param memory", mib]];
  out.dataset.totals = JSON.stringify(t);
  out.replaceChildren(...shown.map(([key, label, f]) => {
    const d = document.createElement("div");
    d.className = "card" + (before && before[key] !== t[key] ? " changed" : "");
    d.dataset.key = key;
    d.dataset.value = t[key];
    d.title = `${fmt(t[key])}`;
    d.innerHTML = "<b></b><small></small>";
    d.firstChild.textContent = f(t[key]);
    d.lastChild.textContent = label;
    return d;
  }), outputCard(summary));
}

function outputCard(summary) {
  const d = document.createElement("div");
  d.className = "card";
  d.innerHTML = "<b></b><small></small>";
  const outs = summary.outputs ? Object.values(summary.outputs) : [summary.output];
  d.firstChild.textContent = outs.map(s => s.join("×")).join(", ");
  d.lastChild.textContent = `output of ${summary.input.join("×")} × batch ${summary.batch}`;
  return d;
}

function table(r) {
  const t = $("#summary"), head = document.createElement("tr");
  head.append(...r.columns.map(c => Object.assign(document.createElement("th"), {textContent: c})));
  const rows = r.cells.map((cells, i) => {
    const tr = document.createElement("tr");
    tr.className = "row";
    tr.dataset.path = r.summary.layers[i].path;
    tr.append(...cells.map((c, j) => Object.assign(document.createElement("td"),
      {textContent: c, className: j >= 3 ? "num" : ""})));
    tr.addEventListener("click", () => explain(tr.dataset.path));
    return tr;
  });
  t.replaceChildren(head, ...rows);
  $("#totals").replaceChildren(...r.totals.map(([k, v]) => {
    const tr = document.createElement("tr");
    tr.innerHTML = "<th></th><td></td>";
    tr.cells[0].textContent = k; tr.cells[1].textContent = v;
    return tr;
  }));
  $("#note").textContent = r.note;
}

// -- the diagram: the server's SVG; clicks open, close and explain -------------------------
function diagram(r) {
  const holder = $("#drawing");
  holder.innerHTML = r.svg;
  const svg = holder.querySelector("svg");
  svg.dataset.width = svg.getAttribute("width");
  svg.dataset.height = svg.getAttribute("height");
  zoomTo(state.zoom);
  for (const g of svg.querySelectorAll("g.box")) {
    const path = g.dataset.path, node = r.nodes[path];
    if (node && node.block) g.querySelector("text").textContent = "▸ " + g.querySelector("text").textContent;
    g.addEventListener("click", () => {
      if (path !== "(input)") explain(path);
      if (node && node.block) toggle(path);
    });
  }
  for (const g of svg.querySelectorAll("g.frame")) {
    const title = g.querySelector("text");
    title.textContent = "▾ " + title.textContent;
    title.addEventListener("click", () => { explain(g.dataset.path); toggle(g.dataset.path); });
  }
  timeOption(r.summary.layers.some(l => l.time_ms !== undefined));
  colour();
  pick(state.picked);
}

function toggle(path) {
  if (state.opened.has(path)) state.opened.delete(path); else state.opened.add(path);
  analyze();
}

function timeOption(has) {  // predicted time, where the summary's rows carry it
  const sel = $("#colour"), opt = sel.querySelector('option[value="time_ms"]');
  if (has && !opt) sel.append(new Option("share of predicted time", "time_ms"));
  if (!has && opt) { opt.remove(); colour(); }
}

function fill(share) {  // diagram_header.fill: white to orange, square root so small shares show
  const t = Math.sqrt(Math.min(1, Math.max(0, share)));
  return "#" + [240, 140, 50].map(v => Math.round(255 + (v - 255) * t).toString(16).padStart(2, "0")).join("");
}

function colour() {
  const r = state.result, how = $("#colour").value;
  if (!r) return;
  let value = path => (r.nodes[path] || {})[how];
  if (how === "time_ms") {
    const times = Object.fromEntries(r.summary.layers.map(l => [l.path, l.time_ms]));
    value = path => times[path];
  }
  const total = how === "time_ms" ? r.summary.layers.reduce((a, l) => a + (l.time_ms || 0), 0)
    : (r.nodes[""] || {})[how];
  for (const g of document.querySelectorAll("#drawing g.box:not(.input)")) {
    const rect = g.querySelector("rect"), v = value(g.dataset.path);
    if (rect.getAttribute("rx") === "12" || v === undefined) continue;  // add/concat ops
    rect.setAttribute("fill", fill(total ? v / total : 0));
  }
}

function zoomTo(z) {
  state.zoom = z;
  const svg = $("#drawing svg");
  $("#zoom").textContent = `${Math.round(z * 100)}%`;
  if (!svg) return;
  svg.setAttribute("width", svg.dataset.width * z);
  svg.setAttribute("height", svg.dataset.height * z);
}

function pick(path) {
  state.picked = path;
  for (const g of document.querySelectorAll("#drawing g.box"))
    g.classList.toggle("picked", g.dataset.path === path);
}

// -- explain and compare ---------------------------------------------------------------------
async function explain(path) {
  pick(path);
  const answer = await post("explain", request({path}));
  const out = $("#explain-out");
  if (answer.error) { out.textContent = answer.error.message; return; }
  out.replaceChildren(...answer.rows.flatMap(row => {
    const head = document.createElement("pre"), at = row.spec.match(/^(.*):(\d+):\d+$/);
    head.textContent = `${row.path} (${row.type})\n${row.input.join("×")} → ${row.output.join("×")}\n`;
    if (at) {  // where it is written: the file's name only; a click shows the line
      const where = Object.assign(document.createElement("a"), {href: "#", textContent:
        `${at[1].split("/").pop()}, line ${at[2]}`});
      where.addEventListener("click", ev => { ev.preventDefault(); if (at[1] === state.name) editor.reveal(Number(at[2])); });
      head.append(where);
    }
    return [head, ...row.figures.map(f => {
      const d = document.createElement("div");
      d.className = "fig";
      d.innerHTML = "<b></b><div></div>";
      const formula = f.formula.replace(/,/g, "") === String(f.value) ? "" : f.formula;
      d.firstChild.textContent = `${f.name} = ${fmt(f.value)}`;
      d.lastChild.textContent = formula + (f.note ? `  (${f.note})` : "");
      return d;
    })];
  }));
}

async function compare() {
  const other = $("#compare-with").value, out = $("#compare-out");
  if (!other && state.previous === null) {
    out.innerHTML = '<p class="note">No previous version yet: change the spec, then compare.</p>';
    return;
  }
  const answer = await post("compare", request(other ? {zoo: other} : {previous: state.previous}));
  if (answer.error) { out.textContent = answer.error.message; return; }
  const keys = [["params", human, "Params"], ["macs", human, "MACs"], ["flops", human, "FLOPs"],
                ["activations", human, "Activations"], ["memory_bytes", mib, "Memory"]];
  const t = document.createElement("table");
  t.className = "grid";
  t.innerHTML = "<tr><th>Network</th><th>Output</th>" + keys.map(k => `<th>${k[2]}</th>`).join("") + "</tr>";
  for (const n of answer.networks) {
    const tr = t.insertRow();
    tr.insertCell().textContent = n.label;
    tr.insertCell().textContent = n.output.join("×");
    for (const [k, f] of keys) {
      const ratio = n.ratios[k === "memory_bytes" ? "memory" : k];
      Object.assign(tr.insertCell(), {className: "num",
        textContent: `${f(n[k])}${ratio === null || ratio === undefined ? "" : ` (${ratio.toFixed(2)}x)`}`});
    }
  }
  out.replaceChildren(t);
}

// -- parameters as inputs: sliders for whole numbers -----------------------------------------
function params(list) {
  const names = list.map(p => `${p.name}:${p.kind}`).join(",");
  if (names === state.paramNames) return;  // keep the inputs (and a slider being dragged)
  state.paramNames = names;
  const box = $("#params");
  box.replaceChildren();
  for (const p of list) {
    const label = Object.assign(document.createElement("label"), {className: "name", textContent: p.name});
    const out = document.createElement("output");
    let input;
    if (p.kind === "int") {
      input = Object.assign(document.createElement("input"), {type: "range", min: p.value > 0 ? 1 : 0,
        max: Math.max(8, p.value * 4), step: 1, value: p.value});
      out.textContent = p.value;
    } else if (p.kind === "bool") {
      input = Object.assign(document.createElement("input"), {type: "checkbox", checked: p.value});
    } else {
      input = Object.assign(document.createElement("input"), {value: p.value,
        type: p.kind === "number" ? "number" : "text", step: "any"});
    }
    input.dataset.param = p.name;
    input.addEventListener("input", () => {
      const v = input.type === "checkbox" ? input.checked : input.value;
      state.sets[p.name] = v;
      out.textContent = input.type === "range" ? v : "";
      schedule();
    });
    box.append(label, input, out);
  }
}

function depths(max) {
  const sel = $("#depth");
  if (sel.options.length === max + 1) return;
  const keep = sel.value;
  sel.replaceChildren(new Option("every layer", ""),
    ...Array.from({length: max}, (_, i) => new Option(`${i + 1}`, `${i + 1}`)));
  sel.value = [...sel.options].some(o => o.value === keep) ? keep : "";
}

// -- share link and downloads ----------------------------------------------------------------
const unb64url = s => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), c => c.charCodeAt(0));

async function pipe(bytes, stream) {
  return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(stream)).arrayBuffer());
}

async function shareLink() {
  const packed = await pipe(new TextEncoder().encode(editor.value), new CompressionStream("deflate-raw"));
  const link = `${location.origin}${location.pathname}#spec=${chunked(packed)}`;
  history.replaceState(null, "", link);
  try { await navigator.clipboard.writeText(link); setStatus("share link copied"); }
  catch { setStatus("share link in the address bar"); }
  return link;
}

function chunked(bytes) {  // base64url of the whole, built without a huge argument list
  let bin = "";
  for (let i = 0; i < bytes.length; i += 8192) bin += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function fromLink() {
  const m = location.hash.match(/spec=([A-Za-z0-9_-]+)/);
  if (!m) return null;
  try { return new TextDecoder().decode(await pipe(unb64url(m[1]), new DecompressionStream("deflate-raw"))); }
  catch { setStatus("the link's spec could not be read"); return null; }
}

function save(name, text, type) {
  const a = Object.assign(document.createElement("a"), {download: name,
    href: URL.createObjectURL(new Blob([text], {type}))});
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

async function download(kind) {
  const base = (state.result ? state.result.summary.name : "spec").replace(/[^\w.-]+/g, "_");
  if (kind === "yaml") return save(`${base}.yaml`, editor.value, "application/yaml");
  if (kind === "svg") return state.result && save(`${base}.svg`, state.result.svg, "image/svg+xml");
  const answer = await post("export", request({format: kind}));
  if (answer.error) return showError(answer.error);
  save(`${base}.${kind === "csv" ? "csv" : "md"}`, answer.text, kind === "csv" ? "text/csv" : "text/markdown");
}

// -- start -------------------------------------------------------------------------------------
async function openZoo(name) {
  const answer = await post("zoo", {name});
  if (answer.error) return setStatus(answer.error.message);
  state.opened.clear(); state.sets = {}; state.paramNames = "";
  editor.value = answer.text;
  history.replaceState(null, "", location.pathname);
  analyze();
}

async function start() {
  editor = Editor.create($("#editor"), schedule);
  const first = await (await fetch("api/start")).json();
  state.name = first.name;
  editor.value = (await fromLink()) ?? first.text;
  const zoo = await post("zoo", {});
  for (const sel of [$("#zoo"), $("#compare-with")])
    sel.append(...zoo.names.map(n => new Option(n, n)));
  $("#zoo").addEventListener("change", ev => ev.target.value && openZoo(ev.target.value));
  for (const id of ["#input", "#batch"]) $(id).addEventListener("input", schedule);
  $("#depth").addEventListener("change", analyze);
  $("#colour").addEventListener("change", colour);
  $("#share").addEventListener("click", shareLink);
  $("#compare-run").addEventListener("click", compare);
  $("#smaller").addEventListener("click", () => zoomTo(Math.max(0.25, state.zoom / 1.25)));
  $("#larger").addEventListener("click", () => zoomTo(Math.min(3, state.zoom * 1.25)));
  $("#zoom").addEventListener("click", () => zoomTo(1));
  $("#error").addEventListener("click", () => $("#error").dataset.line && editor.reveal(Number($("#error").dataset.line)));
  for (const b of document.querySelectorAll("[data-download]")) b.addEventListener("click", () => download(b.dataset.download));
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => {
    for (const o of document.querySelectorAll("#tabs button")) o.classList.toggle("on", o === b);
    for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== `tab-${b.dataset.tab}`;
  });
  await analyze();
  document.body.dataset.ready = "1";  // for the browser tests: the first answer is shown
}

start();
