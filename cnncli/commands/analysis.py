"""The static commands: summary, flops, list, check. They never import torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..analysis.choices import OPTIMIZER_COPIES, TRAINING_DEVICES
from ..errors import UsageError
from .options import (
    analysis_for,
    complete_spec,
    depth_option,
    echo,
    emit,
    format_option,
    override_options,
    predicted_time,
    spec_options,
    time_option,
    write_new_file,
)
from .results import remembered


@click.command()
@spec_options
@format_option
@depth_option(None, "Collapse blocks nested deeper than this into one row with summed costs; "
                    "default: every layer.")
@click.option("--train", is_flag=True,
              help="Add training memory: params, gradients, optimizer state, saved activations.")
@click.option("--optimizer", type=click.Choice(list(OPTIMIZER_COPIES)),
              default="sgd", show_default=True, help="With --train: whose state to count.")
@click.option("--amp", is_flag=True, help="With --train: mixed precision (autocast) activations.")
@click.option("--for-device", "target", type=click.Choice(TRAINING_DEVICES), default="cuda",
              show_default=True, help="With --train: dropout keeps a 1-byte mask on CUDA, "
              "an activation-typed one on CPU.")
@click.option("--max-batch", "budget", metavar="MEM",
              help="With --train: the largest batch whose predicted total fits, e.g. 8GiB; "
                   "default: not asked.")
@click.option("--freeze", multiple=True, metavar="PATTERN",
              help="Count these layers as frozen (non-trainable), as train --freeze does: a "
                   "path glob such as 'layer1.*', a block path, or backbone. Default: none.")
@time_option("Add each layer's predicted time (a training step with --train) and the total")
@remembered("spec")
def summary(spec: str, overrides: tuple[str, ...], input_shape: str | None, batch: int,
            dtype: str, fmt: str, depth: int | None, train: bool, optimizer: str, amp: bool,
            target: str, budget: str | None, freeze: tuple[str, ...],
            time_profile: str | None) -> None:
    """Per-layer shapes, parameters, MACs/FLOPs, memory and receptive field, with totals."""
    from ..analysis import report

    if time_profile is not None and fmt in ("csv", "markdown"):
        raise UsageError(f"--time is shown as a table or json, not {fmt}")
    a = analysis_for(spec, overrides, input_shape, batch, dtype, freeze)
    training, fits = _training(a, train, optimizer, amp, target, budget, fmt)
    timing = predicted_time(a, time_profile, train)
    if training is not None or timing is not None:
        if fmt == "json":
            doc = report.summary_json(a, depth, training, timing)
            emit(fmt, doc if fits is None else _with_fits(doc, fits))
        else:
            emit(fmt, report.summary_renderables(a, depth, training, fits, timing))
    elif fmt == "json":
        emit(fmt, report.summary_json(a, depth))
    elif fmt == "csv":
        emit(fmt, report.summary_csv(a, depth))
    elif fmt == "markdown":
        emit(fmt, report.summary_markdown(a, depth))
    else:
        emit(fmt, report.summary_renderables(a, depth))


def _training(a: Any, train: bool, optimizer: str, amp: bool, target: str,
              budget: str | None, fmt: str) -> tuple[Any, tuple[int, int] | None]:
    """The training-memory prediction summary --train asks for, and --max-batch's answer."""
    if not train:
        if budget is not None or amp or optimizer != "sgd":
            raise UsageError("--optimizer, --amp and --max-batch go with --train")
        return None, None
    from ..analysis import training as tm  # only here: a summary without --train needs none
    if fmt in ("csv", "markdown"):
        raise UsageError(f"--train is shown as a table or json, not {fmt}")
    t = tm.training_memory(a, optimizer, amp, target)
    if budget is None:
        return t, None
    size = tm.parse_bytes(budget)
    return t, (size, tm.max_batch(a, size, optimizer, amp, target))


def _with_fits(doc: str, fits: tuple[int, int]) -> str:
    import json

    data = json.loads(doc)
    data["training"]["max_batch"] = {"budget_bytes": fits[0], "batch": fits[1]}
    return json.dumps(data, indent=2)


@click.command()
@spec_options
@format_option
@depth_option(2, "Depth of the by-layer breakdown (blocks deeper are summed).")
@click.option("--top", type=click.IntRange(1),
              help="Only the N most expensive rows, by MACs; default: every row.")
@remembered("spec")
def flops(spec: str, overrides: tuple[str, ...], input_shape: str | None, batch: int,
          dtype: str, fmt: str, depth: int | None, top: int | None) -> None:
    """Where the compute goes: by layer, by block and by layer type."""
    from ..analysis import breakdown

    a = analysis_for(spec, overrides, input_shape, batch, dtype)
    if fmt == "json":
        emit(fmt, breakdown.flops_json(a, depth, top))
    elif fmt == "csv":
        emit(fmt, breakdown.flops_csv(a, depth, top))
    elif fmt == "markdown":
        emit(fmt, breakdown.flops_markdown(a, depth, top))
    else:
        emit(fmt, breakdown.flops_renderables(a, depth, top))


@click.command(name="list")
@format_option
def list_zoo(fmt: str) -> None:
    """The networks in the zoo: name, input, parameters and MACs."""
    from ..analysis import zoolist

    records = zoolist.records()
    if fmt == "json":
        emit(fmt, zoolist.as_json(records))
    elif fmt == "csv":
        emit(fmt, zoolist.as_csv(records))
    elif fmt == "markdown":
        emit(fmt, zoolist.as_markdown(records))
    else:
        emit(fmt, [zoolist.as_table(records)])


@click.command()
@click.argument("specs", nargs=-1, required=True, shell_complete=complete_spec)
@override_options
@remembered("specs")
def check(specs: tuple[str, ...], overrides: tuple[str, ...], input_shape: str | None) -> None:
    """Check that specs resolve and every shape works out; one line per spec.

    A family file named without a variant is checked variant by variant, one line each.
    Exits 2 at the first spec with an error, after printing it.
    """
    from ..analysis.report import human
    from ..layers import shape_text
    from ..spec.variants import members

    for spec in (member for ref in specs for member in members(ref)):
        a = analysis_for(spec, overrides, input_shape, 1, "fp32")
        t = a.totals()
        echo(f"ok  {spec}: {a.network.name}, input {shape_text(a.input)}, "
             f"output {shape_text(a.output)}, {t['params']:,} params "
             f"({human(t['params'])}), {t['macs']:,} MACs ({human(t['macs'])})")


@click.command(name="spec")
@click.argument("name", shell_complete=complete_spec)
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Write the spec to this file; default: print it.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def spec_text(name: str, output: str | None, force: bool) -> None:
    """Print (or write) a zoo network's YAML spec, to read or to start your own from.

    A variant of a family (vgg16_bn, resnet50) comes as the family's file with the variant's
    values written in as the top-level ones, so the file stands alone: `cnncli summary FILE`
    gives the zoo's figures, and every value edited in it takes effect.
    """
    from ..spec.eject import standalone_text

    entry, text = standalone_text(name)
    if output is None:
        emit("text", text)
        return
    write_new_file(Path(output), text, force)
    click.echo(f"wrote {output}: the zoo's {entry.name} ({len(text.splitlines())} lines); "
               f"try cnncli summary {output}", err=True)
