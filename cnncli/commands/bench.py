"""`cnncli bench`: measured throughput, latency, peak memory and per-layer time (torch)."""

from __future__ import annotations

import json
import statistics
from typing import Any

import click

from ..analysis.report import TABLE_OR_JSON
from ..errors import tell
from ..train import BENCH_DEVICES
from .options import (
    check_new_file,
    complete_spec,
    emit,
    override_options,
    parse_sets,
    wide_option,
)

SCHEMA = "cnncli.bench/1"


@click.command()
@click.argument("spec", shell_complete=complete_spec)
@override_options
@click.option("--batch", "-b", type=click.IntRange(1, 10**6), default=1, show_default=True,
              help="Images per iteration.")
@click.option("--device", type=click.Choice(BENCH_DEVICES), default="auto",
              show_default=True, help="auto: CUDA when available, else the CPU.")
@click.option("--train", is_flag=True,
              help="Time a training step (forward, cross-entropy, backward, SGD step).")
@click.option("--amp", is_flag=True, help="Mixed precision (CUDA only, as in train).")
@click.option("--repeats", "-r", type=click.IntRange(1, 10**6), default=10, show_default=True,
              help="Timed iterations.")
@click.option("--warmup", "-w", type=click.IntRange(0, 10**6), default=3, show_default=True,
              help="Untimed iterations first.")
@click.option("--top", type=click.IntRange(1), default=15, show_default=True,
              help="Layers shown in the table, by time (JSON has all).")
@click.option("--format", "-f", "fmt", type=click.Choice(TABLE_OR_JSON), default="table",
              show_default=True, help="Output format.")
@wide_option
def bench(spec: str, overrides: tuple[str, ...], input_shape: str | None, batch: int,
          device: str, train: bool, amp: bool, repeats: int, warmup: int, top: int,
          fmt: str) -> None:
    """Measure a network: images/s and latency per batch (median, min, max), peak memory,
    and each layer's forward time (torch.profiler) beside its MACs and achieved GFLOP/s.

    With --train, a whole SGD training step is timed and the predicted training memory
    (summary --train) is shown beside the measured peak.
    """
    from ..analysis.analyze import analyze
    from ..train.bench import bench as run_bench

    a = analyze(spec, overrides=parse_sets(overrides), input=input_shape, batch=batch)
    result = run_bench(a, device, train, amp, warmup, repeats,
                       progress=lambda line: click.echo(line, err=True))
    for note in result.notes:
        tell("note", note)
    if fmt == "json":
        emit(fmt, json.dumps(bench_record(result), indent=2))
    else:
        emit(fmt, bench_tables(result, top))


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _pct(part: float, whole: float) -> float:
    return 100 * part / whole if whole else 0.0


def layer_records(result: Any) -> list[dict[str, Any]]:
    """Every leaf layer, in network order, with its share of time and of MACs."""
    total_ms = sum(layer.ms for layer in result.layers)
    total_macs = sum(layer.macs for layer in result.layers)
    return [{"path": layer.path, "type": layer.kind, "ms": layer.ms,
             "time_pct": _pct(layer.ms, total_ms), "macs": layer.macs,
             "macs_pct": _pct(layer.macs, total_macs), "gflops_per_s": layer.gflops()}
            for layer in result.layers]


def bench_record(result: Any) -> dict[str, Any]:
    """The JSON document (schema cnncli.bench/1; fields in docs/json.md)."""
    a = result.analysis
    ms = [s * 1e3 for s in result.latencies_s]
    ips = [result.images_per_s(s) for s in result.latencies_s]
    return {
        "schema": SCHEMA, "network": a.network.name, "input": list(a.input),
        "batch": a.batch, "mode": "train" if result.train else "forward",
        "device": result.device.type, "device_name": result.device_name, "amp": result.amp,
        "warmup": result.warmup, "repeats": result.repeats,
        "latency_ms": {**_spread(ms), "all": ms},
        "images_per_s": {"median": result.images_per_s(result.median_s), "min": min(ips),
                         "max": max(ips)},
        "peak_memory": {"kind": result.memory.kind, "bytes": result.memory.bytes,
                        "note": result.memory.note},
        "predicted_training_memory": (result.predicted.as_dict()
                                      if result.predicted is not None else None),
        "layer_time": {"pass": "forward", "clock": result.time_source,
                       "profiled_passes": _profiled()},
        "layers": layer_records(result),
        "notes": result.notes,
    }


def _profiled() -> int:
    from ..train.bench import PROFILED

    return PROFILED


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def bench_tables(result: Any, top: int) -> list[Any]:
    """The speed lines, the memory table and the top layers by time."""
    from ..analysis.report import human, mib
    from ..analysis.table import TextTable

    a = result.analysis
    ms = [s * 1e3 for s in result.latencies_s]
    what = "training step" if result.train else "forward"
    speed = TextTable(
        f"{a.network.name}: {what}, batch {a.batch}, on {result.device.type} "
        f"({result.device_name}){', amp' if result.amp else ''}; "
        f"{result.repeats} timed after {result.warmup} warm-up",
        ("", "median", "min", "max"),
        [["latency (ms/batch)", _num(statistics.median(ms)), _num(min(ms)), _num(max(ms))],
         ["images/s", _num(result.images_per_s(result.median_s), 1),
          _num(result.images_per_s(max(result.latencies_s)), 1),
          _num(result.images_per_s(min(result.latencies_s)), 1)]], 1)
    peak = ("not measured" if result.memory.bytes is None else mib(result.memory.bytes))
    mem_rows = [[f"measured ({result.memory.kind})", peak]]
    if result.predicted is not None:
        mem_rows.append([f"predicted training total ({result.predicted.device} rule)",
                         mib(result.predicted.total_bytes)])
    memory = TextTable("Memory", ("", "bytes"), mem_rows, 1)
    records = sorted(layer_records(result), key=lambda r: r["ms"], reverse=True)[:top]
    cells = [[r["path"], r["type"], _num(r["ms"]), f"{r['time_pct']:.1f}%",
              *([human(r["macs"]), f"{r['macs_pct']:.1f}%", _num(r["gflops_per_s"], 2)]
                if r["macs"] else ["—", "—", "—"])]  # no MACs: its work is other ops
             for r in records]
    layers = TextTable(f"Forward time by layer ({result.time_source} profiler, top {len(cells)} "
                       f"of {len(result.layers)})",
                       ("Layer", "Type", "ms", "% time", "MACs", "% MACs", "GFLOP/s"), cells, 2,
                       drop=("% MACs", "Type", "GFLOP/s", "MACs"))
    return [speed, memory, layers, f"memory: {result.memory.note}"]



@click.command()
@click.option("--device", type=click.Choice(BENCH_DEVICES), default="auto", show_default=True,
              help="auto: CUDA when available, else the CPU (at torch's thread count).")
@click.option("--repeats", "-r", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="Timings of each microbenchmark; the median is kept.")
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Write the profile here; default: the user cache ($CNNCLI_PROFILES, else "
                   "~/.cache/cnncli/profiles), named after the device, where summary --time "
                   "finds it.")
@click.option("--format", "-f", "fmt", type=click.Choice(TABLE_OR_JSON), default="table",
              show_default=True, help="table: where it went and the fitted rates; json: the "
                                      "profile itself.")
@wide_option
def calibrate(device: str, repeats: int, output: str | None, fmt: str) -> None:
    """Measure this machine for `summary --time`: about 200 layers (dense conv by kernel
    size, grouped and depthwise conv, connection tables, linear, pooling, norm,
    element-wise; up to 98 MiB outputs) timed forward, the rate at which the system hands
    out fresh memory, and a fit per kind of work of a fixed overhead per call and rates for
    operations, activation bytes and weight bytes. Takes about 15 s on 2 CPU cores (about
    1.5 s more per --repeats).
    """
    from pathlib import Path

    from ..analysis.profile import file_name, profiles_dir
    from ..files import write_atomically
    from ..train.calibrate import calibrate as run

    target = Path(output) if output else None
    if target is not None:
        check_new_file(target, force=True)
    profile = run(device, repeats, progress=lambda line: click.echo(line, err=True))
    if target is None:
        target = profiles_dir() / file_name(profile.device, profile.name, profile.threads)
        target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(profile.as_dict(), indent=2) + "\n"
    write_atomically(target, text)
    click.echo(f"wrote {target}", err=True)
    emit(fmt, text if fmt == "json" else calibrate_tables(profile))


def calibrate_tables(profile: Any) -> list[Any]:
    """The fitted terms per kind, with how well each fit its own measurements."""
    from ..analysis.profile import KINDS
    from ..analysis.table import TextTable

    fits = dict(profile.extra).get("fit_median_error", {})

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:,.3g}"

    cells = [[kind, num(r.overhead_us), num(r.gops), num(r.act_gbs), num(r.weight_gbs),
              num(r.fresh_gbs), f"{fits[kind]:.1%}" if kind in fits else "-"]
             for kind, r in profile.kinds.items()]
    table = TextTable(f"{profile.label()}: {profile.source}",
                      ("Kind", "Overhead µs", "Gop/s", "Act GB/s", "Weight GB/s", "Fresh GB/s",
                       "Fit error"), cells, 1, drop=("Fit error", "Fresh GB/s"))
    above = profile.fresh_above_bytes
    fresh = ("" if above is None else f"Fresh: output bytes of an output over "
             f"{above / 2**20:g} MiB, new memory from the operating system. ")
    return [table, f"backward ≈ {profile.backward_ratio:g} x forward (a training step); "
                   f"- : no limit found. {fresh}Kinds: "
                   + "; ".join(f"{k}: {v}" for k, v in KINDS.items())]
