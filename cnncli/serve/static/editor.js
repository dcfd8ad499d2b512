// The playground's YAML editor: a plain textarea (the browser's own editing, undo and
// selection) drawn transparent over a highlighted copy of its text, with line numbers beside.
// No library: the page ships as these files and fetches nothing.
"use strict";

const Editor = (() => {
  const LINE = 19, PAD = 8;  // px: app.css's line-height and padding
  const esc = s => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const span = (cls, s) => `<span class="${cls}">${esc(s)}</span>`;
  // one YAML line: indent and list dashes, a key, then a value (flow lists and maps inside)
  const VALUE = /("(?:[^"\\]|\\.)*"?|'[^']*'?)|(-?\b\d[\d_]*(?:\.\d+)?(?:e-?\d+)?\b)|(\b(?:true|false|null|yes|no)\b)|([A-Za-z_][\w.]*)(\s*:(?=\s|$))|([[\]{},])|(\s#.*$)/g;
  function valueHtml(text) {
    let out = "", last = 0;
    text.replace(VALUE, (m, str, num, word, key, colon, punct, comment, at) => {
      out += esc(text.slice(last, at));
      out += str ? span("s", str) : num ? span("n", num) : word ? span("b", word)
        : key ? span("k", key) + span("p", colon) : punct ? span("p", punct) : span("c", comment);
      last = at + m.length;
      return m;
    });
    return out + esc(text.slice(last));
  }
  function lineHtml(line) {
    const m = line.match(/^(\s*(?:-\s+)*)(#.*)?$/);
    if (m && m[2] !== undefined) return esc(m[1]) + span("c", m[2]);
    const k = line.match(/^(\s*(?:-\s+)*)([^\s#:'"[\]{},][^:#]*?|"[^"]*"|'[^']*')(\s*:)(?=\s|$)(.*)$/);
    if (k) return esc(k[1]).replace(/-/g, span("p", "-")) + span("k", k[2])
      + span("p", k[3]) + valueHtml(k[4]);
    const d = line.match(/^(\s*-)(.*)$/);
    if (d) return esc(d[1].slice(0, -1)) + span("p", "-") + valueHtml(d[2]);
    return valueHtml(line);
  }

  function create(root, onChange) {
    const area = root.querySelector("textarea"), hl = root.querySelector("#highlight");
    const gutter = root.querySelector("#gutter"), code = root.querySelector(".code");
    let bad = null;  // the line the error is on, or null
    function render() {
      const lines = area.value.split("\n");
      hl.innerHTML = lines.map((l, i) => {
        const html = lineHtml(l) || " ";
        return i + 1 === bad ? `<span class="line-bad">${html}</span>` : html;
      }).join("\n") + "\n";
      gutter.innerHTML = lines.map((_, i) => i + 1 === bad ? `<span class="bad">${i + 1}</span>`
        : String(i + 1)).join("\n");
      const cols = Math.max(...lines.map(l => l.length));  // grow with the text: the pane scrolls
      code.style.height = gutter.style.height =
        `${Math.max(lines.length * LINE + 2 * PAD, root.clientHeight)}px`;
      code.style.minWidth = `${cols * 7.9 + 40}px`;
    }
    area.addEventListener("input", () => { render(); onChange(area.value); });
    area.addEventListener("keydown", ev => {  // Tab indents by two spaces, as YAML wants
      if (ev.key !== "Tab") return;
      ev.preventDefault();
      document.execCommand("insertText", false, "  ");
    });
    return {
      get value() { return area.value; },
      set value(text) { area.value = text; render(); },
      mark(line) { if (bad !== line) { bad = line; render(); } },
      reveal(line) {  // the caret to the start of `line`, scrolled into view
        const at = area.value.split("\n").slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
        area.focus({preventScroll: true});
        area.setSelectionRange(at, at);
        root.scrollTop = Math.max(0, (line - 4) * LINE);
      },
      render,
    };
  }
  return {create, lineHtml};
})();
