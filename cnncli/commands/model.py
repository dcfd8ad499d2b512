"""Commands that need torch; the CLI imports this module only when one of them runs."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from ..model import EXPORT_FORMATS, VERIFY_DEVICES
from .options import (
    complete_spec,
    emit,
    override_options,
    parse_sets,
    weights_option,
    wide_option,
)


@click.command()
@click.argument("spec", shell_complete=complete_spec)
@override_options
@weights_option
@click.option("--batch", "-b", type=click.IntRange(1, 10**6), default=2, show_default=True,
              help="Batch of the forward pass.")
@click.option("--device", type=click.Choice(VERIFY_DEVICES), default="meta",
              show_default=True,
              help="meta allocates nothing (any size verifies in seconds); cpu/cuda run for real.")
@wide_option
def verify(spec: str, overrides: tuple[str, ...], input_shape: str | None, batch: int,
           device: str, weights: str | None) -> None:
    """Build the model, run it once and compare every layer with the analysis.

    Output shapes (forward hooks), parameter and buffer counts, and conv/linear FLOPs
    (torch.utils.flop_counter) must equal the analyzer's. Exits 0 when everything agrees,
    1 otherwise, naming the first disagreement. With --weights, also checks that every key
    and shape of the weights fits the network (exit 2 naming the first that do not).
    """
    from ..analysis.analyze import analyze
    from ..model.verify import verify_analysis

    a = analyze(spec, overrides=parse_sets(overrides), input=input_shape, batch=batch)
    if weights is not None:  # download (or refuse) before any work is printed
        from ..model.pretrained import weights_file

        weights_file(a.network, weights)
    result = verify_analysis(a, device)
    emit("table", [_verify_table(result)])
    bad = result.first_disagreement()
    if bad:
        click.echo(f"MISMATCH: {bad}", err=True)
        raise SystemExit(1)
    leaves = len(result.checks) - 1
    emit("table", [f"verified: {result.analysis.network.name}, {leaves} layers on "
                   f"{result.device}: output shapes, params, buffers and FLOPs all equal the "
                   "analysis"])
    if weights is not None:
        from ..model.build import build_from_analysis
        from ..model.pretrained import load_pretrained

        network = result.analysis.network
        loaded = load_pretrained(build_from_analysis(result.analysis, device="meta"), network,
                                 weights, copy=False)
        click.echo(f"weights: {loaded.tensors} tensors from {loaded.file} fit {network.name}"
                   + (f"; {loaded.note}" if loaded.note else ""))


def _verify_table(result):  # type: ignore[no-untyped-def]
    from ..analysis.table import TextTable
    from ..layers import shape_text

    def cell(check, key: str) -> str:  # type: ignore[no-untyped-def]
        value = check.static[key]
        text = shape_text(value) if isinstance(value, tuple) else f"{value:,}"
        if check.static[key] == check.measured.get(key):
            return f"{text} ✓"
        measured = check.measured.get(key)
        shown = shape_text(measured) if isinstance(measured, tuple) else measured
        return f"{text} ✗ torch {shown}"

    rows = [[c.path, c.kind, cell(c, "output"), cell(c, "params"), cell(c, "buffers"),
             cell(c, "flops")] for c in result.checks]
    a = result.analysis
    title = (f"{a.network.name}: analysis vs torch ({result.device}, batch {a.batch}, "
             f"input {shape_text(a.input)})")
    return TextTable(title, ("Layer", "Type", "Output", "Params", "Buffers", "FLOPs"), rows, 2,
                     drop=("Buffers", "Type", "Params", "FLOPs"))


@click.command()
@click.argument("spec", metavar="SPEC|CHECKPOINT")
@click.option("--format", "-f", "fmt", type=click.Choice(EXPORT_FORMATS),
              help="pt2: torch.export (recommended for PyTorch); onnx; torchscript (legacy). "
                   "Default: from FILE's extension (.pt2, .onnx, .pt or .torchscript).")
@click.option("--output", "-o", "output", required=True, metavar="FILE", help="File to write.")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@override_options
@weights_option
def export(spec: str, fmt: str | None, output: str, force: bool, overrides: tuple[str, ...],
           input_shape: str | None, weights: str | None) -> None:
    """Write the model of a spec (fresh or --weights) or a checkpoint (trained weights) as a
    torch.export program (pt2), ONNX or TorchScript, then check the file.

    pt2 files are reloaded with torch.export.load and run at two batch sizes; ONNX files
    pass onnx.checker and, when onnxruntime is installed, are run and compared with torch;
    TorchScript files are reloaded and compared. The batch axis is dynamic.
    """
    from ..model.build import build
    from ..model.export import check_target, format_for
    from ..model.export import export as run_export

    fmt = format_for(output, fmt)
    check_target(output, force)  # fail before the (slow) build
    if spec.endswith((".pt", ".pth")) and Path(spec).is_file():
        if overrides or input_shape or weights:
            raise UsageError("--set, --input and --weights do not apply to a checkpoint: it "
                             "carries its own spec and weights")
        from ..model import checkpoint, rebuild

        model, _ = rebuild.model_from(checkpoint.load(spec), spec)
    else:
        model = build(spec, overrides=parse_sets(overrides), input=input_shape, weights=weights)
        if weights is not None:
            click.echo(f"weights: {model.pretrained.tensors} tensors from "
                       f"{model.pretrained.file}", err=True)
    result = run_export(model, output, fmt, force=force)
    diff = "" if result.max_abs_diff is None else f", max |diff| vs torch {result.max_abs_diff:.1e}"
    for note in result.notes:
        click.echo(note, err=True)
    click.echo(f"wrote {result.path} ({result.format}, {result.path.stat().st_size:,} bytes); "
               f"checked with {result.checked_with}{diff}")


@click.command("import")
@click.argument("source", metavar="MODEL.onnx")
@click.option("--output", "-o", required=True, metavar="FILE.yaml",
              help="The spec to write; the weights go beside it as FILE.pt (a state_dict).")
@click.option("--input", "input_shape", metavar="CxHxW", default=None,
              help="Input shape per sample, for a file whose input is not fixed  [default: "
                   "the file's]")
@click.option("--force", is_flag=True, help="Overwrite FILE.yaml and FILE.pt if they exist.")
def import_onnx(source: str, output: str, input_shape: str | None, force: bool) -> None:
    """Turn an ONNX file into a spec and its weights: `cnncli import resnet50.onnx -o
    resnet50.yaml` writes resnet50.yaml and resnet50.pt, so that `cnncli summary`, `verify`,
    `train ... --weights resnet50.pt` work on the network.

    The spec follows the module tree the exporter recorded (torch's names, so the weights
    keep theirs), with `from:` where the graph branches, and a repeated unit (a ResNet
    stage's blocks) as one block and a repeat. With onnxruntime installed (the onnx extra)
    the imported network is run against the file on a random input and the largest
    difference is printed. A node cnncli cannot express is named, and nothing is written
    (exit 2).
    """
    from .. import onnxin
    from ..model.onnximport import import_onnx as run_import
    from ..spec.load import parse_shape

    if not source.lower().endswith(".onnx") or not Path(source).is_file():
        raise UsageError(f"{source}: no such ONNX file (give a path ending in .onnx)")
    given = parse_shape(input_shape) if input_shape else None
    result = run_import(onnxin.load(source, given), output, force)
    checked = (f"{result.unchecked}, so the outputs were not compared"
               if result.max_abs_diff is None else
               f"outputs equal onnxruntime's on a random input, max |diff| "
               f"{result.max_abs_diff:.1e} (outputs up to {result.scale:.3g})")
    click.echo(f"wrote {result.spec} and {result.weights} ({result.tensors} tensors); "
               f"{checked}")
