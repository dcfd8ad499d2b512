"""`cnncli list`: every zoo network with its input, parameters and MACs (analysed once, then
kept in the user cache until a zoo file or cnncli changes)."""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

from ..files import cache_dir, cached, stamps
from ..layers import shape_text
from ..spec.zoo import code_stamps, zoo_dir, zoo_entries
from .analyze import analyze
from .report import human, markdown_table
from .table import TextTable

COLUMNS = ("Name", "Aliases", "Input", "Params", "MACs", "Weights", "Description")


def records() -> list[dict[str, Any]]:
    """One record per zoo network, kept in the user cache while no zoo file and no cnncli
    module has changed: the figures are the analysis's, which reads nothing else."""
    folder = zoo_dir()
    key = {"zoo": str(folder), "specs": stamps(folder, (".yaml",)), "code": code_stamps()}
    name = f"list-{zlib.crc32(str(folder).encode()):08x}.json"
    return cached(cache_dir("index", "CNNCLI_INDEX") / name, key, _analysed)


def _analysed() -> list[dict[str, Any]]:
    out = []
    for name, entry in sorted(zoo_entries().items(), key=lambda item: _natural(item[0])):
        a = analyze(name)
        t = a.totals()
        tv = a.network.torchvision
        out.append({"name": name, "aliases": list(entry.aliases), "file": entry.file.name,
                    "input": list(a.input),
                    "output": list(a.output), "params": t["params"], "macs": t["macs"],
                    "flops": t["flops"], "torchvision": tv.model if tv else None,
                    "weights": tv.weights if tv else None,
                    "description": a.network.description})
    return out


def _natural(name: str) -> list[Any]:
    """Sort key that puts resnet18 before resnet101."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _cells(recs: list[dict[str, Any]], exact: bool) -> list[list[str]]:
    def num(n: int) -> str:
        return f"{n:,}" if exact else f"{n:,} ({human(n)})"

    return [[r["name"], ", ".join(r["aliases"]), shape_text(r["input"]), num(r["params"]),
             num(r["macs"]), "torchvision" if r["weights"] else "—", r["description"]]
            for r in recs]


def as_table(recs: list[dict[str, Any]]) -> TextTable:
    """Names stay whole (they are typed next); the description wraps; in a narrow terminal
    aliases, the weights column and the input go first."""
    return TextTable("The zoo (MACs at batch 1; FLOPs = 2 x MACs; names match whatever the "
                     "case, -, _ and .; Weights: --weights torchvision loads them)", COLUMNS,
                     _cells(recs, exact=True), 3,
                     drop=("Aliases", "Weights", "Input", "Description"), wrap=("Description",))


def as_json(recs: list[dict[str, Any]]) -> str:
    return json.dumps({"schema": "cnncli.list/1", "networks": recs}, indent=2)


def as_csv(recs: list[dict[str, Any]]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "aliases", "input", "params", "macs", "flops", "torchvision",
                     "description"])
    for r in recs:
        writer.writerow([r["name"], " ".join(r["aliases"]), shape_text(r["input"]), r["params"],
                         r["macs"], r["flops"], r["torchvision"] or "", r["description"]])
    return out.getvalue()


def as_markdown(recs: list[dict[str, Any]]) -> str:
    return markdown_table(COLUMNS, _cells(recs, exact=True), 3) + "\n"
