"""`cnncli list`: every zoo network with its input, parameters and MACs."""

from __future__ import annotations

import json
from typing import Any

from ..spec.zoo import zoo_entries
from .analyze import analyze
from .report import human, markdown_table, rich_table, shape_text

COLUMNS = ("Name", "Input", "Params", "MACs", "Description")


def records() -> list[dict[str, Any]]:
    out = []
    for name, entry in sorted(zoo_entries().items()):
        a = analyze(name)
        t = a.totals()
        out.append({"name": name, "file": entry.file.name, "input": list(a.input),
                    "output": list(a.output), "params": t["params"], "macs": t["macs"],
                    "flops": t["flops"], "description": a.network.description})
    return out


def _cells(recs: list[dict[str, Any]], exact: bool) -> list[list[str]]:
    def num(n: int) -> str:
        return f"{n:,}" if exact else f"{n:,} ({human(n)})"

    return [[r["name"], shape_text(r["input"]), num(r["params"]), num(r["macs"]),
             r["description"]] for r in recs]


def as_table(recs: list[dict[str, Any]]) -> Any:
    table = rich_table("The zoo (MACs at batch 1; FLOPs = 2 x MACs)", COLUMNS,
                       _cells(recs, exact=True), 2)
    table.columns[-1].justify = "left"
    table.columns[-1].no_wrap = False
    return table


def as_json(recs: list[dict[str, Any]]) -> str:
    return json.dumps({"schema": "cnncli.list/1", "networks": recs}, indent=2)


def as_csv(recs: list[dict[str, Any]]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "input", "params", "macs", "flops", "description"])
    for r in recs:
        writer.writerow([r["name"], shape_text(r["input"]), r["params"], r["macs"], r["flops"],
                         r["description"]])
    return out.getvalue()


def as_markdown(recs: list[dict[str, Any]]) -> str:
    return markdown_table(COLUMNS, _cells(recs, exact=True), 2) + "\n"
