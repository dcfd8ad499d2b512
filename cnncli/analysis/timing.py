"""Predicted time per layer on a device, from the work the IR records and a device profile.

Each leaf row (a layer, or a composite's add, multiply or concat) does one kind of work
(`KINDS`; a layer says which, and how many calls of that kind's kernel its torch module
makes: `Layer.calls`) and four amounts of it: `ops` (2 x MACs, or its other ops where it
does no MACs), `act_bytes` (its input read and its output written), `weight_bytes` (its
parameters and buffers) and the fresh bytes of the buffers it allocates (its output, and a
copy of its input where `Layer.calls` says it makes one; `profile.fresh_bytes`: memory new
from the operating system, its pages faulted in as they are written). The profile
gives, per kind, a fixed overhead per call and a rate for each amount; a rate that is null
never limits. Its time is

    calls x overhead + compute ∘ memory,   compute = ops / rate,
            memory = act_bytes / act rate + weight_bytes / weight rate + fresh / fresh rate

where ∘ is + for a calibrated profile (the CPU's kernels do not overlap packing the weights
with the arithmetic) and max for a published one (a GPU's roofline). A training step is the
forward times (1 + the profile's backward ratio) plus the optimizer's pass over the
parameters. Arithmetic only: no torch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..layers import Cost, Layer, Shape
from ..layers.window import elements
from .analyze import DTYPE_BYTES, Analysis, Row
from .profile import BORROWED, KINDS, Profile, Rate, fresh_bytes


@dataclass(frozen=True)
class Work:
    """A leaf row's work for the whole batch: its kind, its amounts, how many calls of the
    kind's kernel it makes, and the sizes in bytes of the buffers it allocates (its output,
    and a copy of its input where it makes one)."""

    kind: str
    ops: int
    act_bytes: int
    weight_bytes: int
    calls: int = 1
    buffers: tuple[int, ...] = ()


def layer_work(layer: Layer, shape: Shape, cost: Cost, batch: int, element: int) -> Work:
    """The work of one layer call on `batch` inputs of `shape` (calibration uses it too)."""
    calls = layer.calls(shape)
    ops = 2 * cost.macs if cost.macs else cost.other_ops
    read = elements(shape) * element * batch
    out = elements(cost.output) * element * batch
    if calls.kind == "view":
        return Work(calls.kind, ops * batch, 0, 0, calls.count)
    return Work(calls.kind, ops * batch, read + out, (cost.params + cost.buffers) * element,
                calls.count, (out, read) if calls.copies_input else (out,))


def row_work(row: Row, batch: int, element: int) -> Work:
    """A leaf row's work: a layer's from its Cost; an add or multiply reads its two inputs
    and writes one; a concat copies its inputs into its output."""
    if row.is_layer:
        cost = row.cost
        assert cost is not None
        return layer_work(row.layer, row.input, cost, batch, element)
    out = elements(row.output) * element * batch
    return Work("elementwise", row.other_ops * batch, (3 if row.op != "concat" else 2) * out, 0,
                buffers=(out,))


@dataclass(frozen=True)
class Terms:
    """One leaf's predicted forward time, in ms, term by term."""

    work: Work
    rate: Rate
    overhead_ms: float
    compute_ms: float
    memory_ms: float
    combine: str
    fresh_bytes: int  # of its buffers, those fresh from the operating system

    @property
    def ms(self) -> float:
        body = (self.compute_ms + self.memory_ms if self.combine == "sum"
                else max(self.compute_ms, self.memory_ms))
        return self.overhead_ms + body

    @property
    def bound(self) -> str:
        """'compute', 'memory' or 'overhead': the largest of the three terms."""
        terms = {"compute": self.compute_ms, "memory": self.memory_ms,
                 "overhead": self.overhead_ms}
        return max(terms, key=lambda name: terms[name])


def _per(amount: int, rate: float | None, per_second: float) -> float:
    """ms to handle `amount` at `rate` x per_second per second; 0 where no rate limits."""
    return 0.0 if not rate or not amount else amount / (rate * per_second) * 1e3


def terms(work: Work, profile: Profile) -> Terms:
    rate = profile.kinds[work.kind]
    fresh = fresh_bytes(work.buffers, profile.fresh_above_bytes)
    memory = (_per(work.act_bytes, rate.act_gbs, 1e9)
              + _per(work.weight_bytes, rate.weight_gbs, 1e9)
              + _per(fresh, rate.fresh_gbs, 1e9))
    return Terms(work, rate, work.calls * rate.overhead_us / 1e3, _per(work.ops, rate.gops, 1e9),
                 memory, profile.combine, fresh)


TIME_COLUMN = "Time ms"


@dataclass
class Timing:
    """Predicted ms of every row (a composite's is the sum of its leaves'), forward or a
    training step, and each leaf's forward terms."""

    profile: Profile
    train: bool
    ms: dict[str, float]
    leaves: dict[str, Terms]
    optimizer_ms: float

    @property
    def total_ms(self) -> float:
        return self.ms[""]

    def mode(self, batch: int) -> str:
        what = "training step (forward, backward, SGD update)" if self.train else "forward"
        return f"{what}, batch {batch}"

    # -- what summary shows (report takes these without importing this module) ----------

    column = TIME_COLUMN

    def cell(self, row: Row) -> str:
        return f"{self.ms[row.path]:.3f}"

    def lines(self, a: Analysis) -> list[tuple[str, str]]:
        """The totals' lines: the predicted time and the profile it comes from."""
        what = "a training step" if self.train else "forward"
        per = "" if a.batch == 1 else f" (batch {a.batch})"
        out = [(f"Predicted time{per}", f"{self.total_ms:,.2f} ms, {what}, on "
                f"{self.profile.label()}")]
        if self.train:
            out.append(("", f"backward = {self.profile.backward_ratio:g} x forward; SGD "
                            f"update {self.optimizer_ms:,.2f} ms"))
        out.append(("Time profile", self.profile.path or self.profile.name))
        if self.profile.borrowed:
            out.append(("", self.profile.note()))
        return out

    def record(self, a: Analysis) -> dict[str, object]:
        """summary --format json's `time` object."""
        p = self.profile
        return {"mode": "train" if self.train else "forward", "batch": a.batch,
                "total_ms": self.total_ms, "optimizer_ms": self.optimizer_ms,
                "profile": {"name": p.name, "device": p.device, "calibrated": p.calibrated,
                            "threads": p.threads, "source": p.source, "path": p.path,
                            "borrowed": {k: BORROWED[k] for k in p.borrowed}},
                "model": "overhead + compute (+ or max) memory per layer: docs/counting.md"}

    def explain(self, row: Row, batch: int) -> list[str]:
        """The arithmetic of one row's prediction (a composite: the sum of its leaves')."""
        p = self.profile
        head = f"time on {p.name} ({'calibrated' if p.calibrated else 'uncalibrated'}), " \
               f"{self.mode(batch)}:"
        if not row.is_leaf:
            inside = sum(1 for _ in _leaves(row))
            return [head, f"  time = sum of the {inside} layers inside = "
                          f"{self.ms[row.path]:.4f} ms"]
        t = self.leaves[row.path]
        w, r = t.work, t.rate
        calls = f"{w.calls} calls · " if w.calls > 1 else ""
        lines = [head, f"  kind = {w.kind} ({KINDS[w.kind]})",
                 f"  overhead = {calls}{r.overhead_us:g} µs = {t.overhead_ms:.4f} ms"]
        lines.append(f"  compute = {w.ops:,} ops / {_num(r.gops)} Gop/s = {t.compute_ms:.4f} ms"
                     if r.gops and w.ops else "  compute = 0 (no rate limits this kind's ops)")
        parts = []
        if r.act_gbs and w.act_bytes:
            parts.append(f"{w.act_bytes:,} activation bytes / {_num(r.act_gbs)} GB/s")
        if r.weight_gbs and w.weight_bytes:
            parts.append(f"{w.weight_bytes:,} weight bytes / {_num(r.weight_gbs)} GB/s")
        if r.fresh_gbs and t.fresh_bytes:
            parts.append(f"{t.fresh_bytes:,} fresh bytes / {_num(r.fresh_gbs)} GB/s")
        lines.append(f"  memory = {' + '.join(parts)} = {t.memory_ms:.4f} ms" if parts
                     else "  memory = 0 (no rate limits this kind's bytes)")
        how = "overhead + compute + memory" if t.combine == "sum" \
            else "overhead + max(compute, memory)"
        lines.append(f"  forward = {how} = {t.ms:.4f} ms: {t.bound}-bound")
        if self.train:
            lines.append(f"  training step = forward · (1 + {p.backward_ratio:g} backward) "
                         f"+ SGD update of {row.trainable:,} weights = "
                         f"{self.ms[row.path]:.4f} ms")
        return lines

    def explain_record(self, row: Row, batch: int) -> dict[str, object]:
        """explain --format json's `time` of one row: the terms and the lines."""
        out: dict[str, object] = {"time_ms": self.ms[row.path],
                                  "mode": "train" if self.train else "forward"}
        if row.is_leaf:
            t = self.leaves[row.path]
            out.update({"kind": t.work.kind, "calls": t.work.calls, "ops": t.work.ops,
                        "act_bytes": t.work.act_bytes, "weight_bytes": t.work.weight_bytes,
                        "fresh_bytes": t.fresh_bytes,
                        "overhead_ms": t.overhead_ms,
                        "compute_ms": t.compute_ms, "memory_ms": t.memory_ms,
                        "forward_ms": t.ms, "bound": t.bound})
        out["lines"] = self.explain(row, batch)
        return out


def _leaves(row: Row) -> Iterator[Row]:
    for r in row.walk():
        if r.is_leaf:
            yield r


def predict(a: Analysis, profile: Profile, train: bool = False) -> Timing:
    """Each row's predicted time on the profile's device at the analysis's batch."""
    element = DTYPE_BYTES[a.dtype]
    leaves = {r.path: terms(row_work(r, a.batch, element), profile) for r in _leaves(a.root)}
    step = 1 + profile.backward_ratio if train else 1.0
    # SGD reads each trainable weight and its gradient and writes the weight back
    update = profile.kinds["elementwise"].act_gbs
    optimizer_ms = _per(3 * a.root.trainable * element, update, 1e9) if train else 0.0
    ms: dict[str, float] = {}

    def visit(row: Row) -> float:
        if row.is_leaf:
            own = leaves[row.path].ms * step
            if train and row.trainable:
                own += _per(3 * row.trainable * element, update, 1e9)
        else:
            own = sum(visit(child) for child in row.children)
        ms[row.path] = own
        return own

    visit(a.root)
    return Timing(profile, train, ms, leaves, optimizer_ms)


def _num(value: float) -> str:
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"
