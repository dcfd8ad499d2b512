"""`cnncli serve`, the local web playground: imports errors, spec and analysis, never torch.

app (the HTTP server: which requests it answers, the page's files), worker (the process the
analysis runs in, bounded in time and memory), jobs (what the page asks: the summary,
explain, compare, exports, the zoo). The page itself is static/: index.html, app.css,
editor.js (the YAML editor) and app.js (everything else), plain files with no build step.
"""
