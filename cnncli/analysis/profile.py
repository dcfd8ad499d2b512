"""Device profiles: what `cnncli calibrate` measured on a device, or a GPU's published peak
figures, as a small JSON file (schema cnncli.profile/1, fields in docs/json.md).

Calibrated profiles live in the user cache ($CNNCLI_PROFILES, else ~/.cache/cnncli/profiles),
one file per device; the published ones ship in cnncli/analysis/profiles/. A profile is
named by a file path, by a shipped profile's name (h100-sxm), or not at all: then this
machine's newest calibrated one. No torch.
"""

from __future__ import annotations

import json
import os
import platform
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import CnncliError, UsageError, did_you_mean
from ..files import cache_dir

SCHEMA = "cnncli.profile/1"
SHIPPED = Path(__file__).with_name("profiles")
COMBINE = ("sum", "max")
RATE_FIELDS = ("overhead_us", "gops", "act_gbs", "weight_gbs", "fresh_gbs")
JSON_TYPES = {str: "a string", bool: "true or false", dict: "an object"}
CALIBRATE_HINT = "run `cnncli calibrate` (about 15 s on 2 cores)"


#: kind of work -> what it covers (docs/counting.md repeats this table)
KINDS = {
    "conv1x1": "dense conv with a 1x1 kernel, linear on a map (GEMMs)",
    "conv3x3": "dense conv with a 3x3 kernel",
    "conv_kxk": "dense conv with any other kernel (5x5, 7x7, 11x11, 1x7)",
    "conv_grouped": "grouped conv with fewer than 16 input channels a group",
    "conv_depthwise": "depthwise conv (groups = input channels)",
    "conv_table": "conv with a connection table: a gather and a grouped conv of one output map "
                  "a group per row length (overhead per call)",
    "conv_transpose": "transposed conv (each input's kernel scattered over a bigger output)",
    "linear": "fully connected on a vector",
    "rbf": "Euclidean RBF units: squares, sums and a matrix product (ten small calls)",
    "maxpool": "max pooling over windows",
    "avgpool": "average pooling over windows, subsampling",
    "global_pool": "adaptive and global average pooling",
    "norm": "batch norm, layer norm, softmax",
    "elementwise": "relu-like activations, residual add, gate multiply, concat, resize, "
                   "pad, crop, shuffle, layer scale, detection decode",
    "transcendental": "layers that take an exp, tanh, erf or power per element: gelu, silu, "
                      "sigmoid, tanh, LRN",
    "view": "flatten, and dropout and drop-path in eval: no work but the call",
}
#: kinds added after profiles were first written, and the kind each was predicted as
#: before: a profile without one borrows that kind's rates, and says so (`Profile.note`)
BORROWED = {"conv_table": "conv_kxk", "conv_transpose": "conv1x1", "rbf": "linear"}


def fresh_bytes(buffers: tuple[int, ...], above: int | None) -> int:
    """Of the buffers a call allocates (sizes in bytes), those the allocator takes fresh
    from the operating system, whose pages are faulted in and zeroed as they are first
    written: all of them where together they pass `above`, none where they do not (it
    reuses memory it holds) or `above` is None (CUDA's caching allocator). glibc's malloc
    maps a block over 32 MiB on its own and unmaps it when freed, and gives the top of its
    heap back to the system when much lies free there: a conv's output and the copy of its
    input, 24 MiB each at batch 16, are fresh as often as not (docs/counting.md)."""
    total = sum(buffers)
    return total if above is not None and total > above else 0


class ProfileError(CnncliError):
    """A profile file that cannot be used: where in it, and what is wrong."""

    exit_code = 2


@dataclass(frozen=True)
class Rate:
    """One kind's terms: a fixed overhead per call (µs) and rates (G per second) for its
    ops, activation bytes, weight bytes and fresh output bytes (`fresh_bytes`); None where
    the fit found no limit."""

    overhead_us: float
    gops: float | None
    act_gbs: float | None
    weight_gbs: float | None
    fresh_gbs: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {name: getattr(self, name) for name in RATE_FIELDS}


@dataclass(frozen=True)
class Profile:
    name: str
    device: str  # "cpu" or "cuda"
    calibrated: bool
    source: str
    combine: str  # "sum" or "max" of the compute and memory terms
    backward_ratio: float  # a backward pass's time over its forward's
    kinds: dict[str, Rate]
    path: str = ""
    threads: int | None = None
    host_cpu: str = ""
    extra: tuple[tuple[str, Any], ...] = ()  # fields kept as written (created, torch, fits)
    borrowed: tuple[str, ...] = ()  # kinds the file lacks, with another's rates (BORROWED)
    fresh_above_bytes: int | None = None  # outputs bigger are fresh memory (`fresh_bytes`)

    def as_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "name": self.name, "device": self.device,
                "calibrated": self.calibrated, "source": self.source,
                "threads": self.threads, "host_cpu": self.host_cpu, "combine": self.combine,
                "backward_ratio": self.backward_ratio,
                "fresh_above_bytes": self.fresh_above_bytes, **dict(self.extra),
                "kinds": {kind: rate.as_dict() for kind, rate in self.kinds.items()
                          if kind not in self.borrowed}}

    def note(self) -> str:
        """'' or, for a profile older than some kinds, which rates it borrows."""
        if not self.borrowed:
            return ""
        pairs = ", ".join(f"{kind} as {BORROWED[kind]}" for kind in self.borrowed)
        one = len(self.borrowed) == 1
        return (f"made before the {'kind' if one else 'kinds'} {', '.join(self.borrowed)}: "
                f"predicted {pairs}; {CALIBRATE_HINT} for {'its' if one else 'their'} own "
                "rates")

    def label(self) -> str:
        how = "calibrated" if self.calibrated else "uncalibrated: published peak figures"
        threads = f", {self.threads} threads" if self.threads else ""
        return f"{self.name}{threads} ({how})"


# -- reading and checking ---------------------------------------------------------------------

def _number(where: str, value: Any, *, null: bool = False, low: float = 0.0) -> float | None:
    if value is None and null:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low \
            or value != value or value == float("inf"):
        bound = "a number" + (f" ≥ {low:g}" if low == 0 else f" > {low:g}")
        raise ProfileError(f"{where}: must be {bound}{' or null' if null else ''}, "
                           f"got {json.dumps(value)}")
    return float(value)


def _rate(where: str, value: Any) -> Rate:
    if not isinstance(value, dict):
        raise ProfileError(f"{where}: must be an object with {', '.join(RATE_FIELDS)}")
    unknown = set(value) - set(RATE_FIELDS)
    if unknown or "overhead_us" not in value:
        what = f"unknown field {sorted(unknown)[0]!r}" if unknown else "needs overhead_us"
        raise ProfileError(f"{where}: {what} (fields: {', '.join(RATE_FIELDS)})")
    rates = [_number(f"{where}.{name}", value.get(name), null=True, low=1e-12)
             for name in RATE_FIELDS[1:]]
    return Rate(_number(f"{where}.overhead_us", value["overhead_us"]) or 0.0, *rates)


def _kinds(path: str, given: dict[str, Any]) -> tuple[dict[str, Rate], tuple[str, ...]]:
    """Every kind's rate, and the kinds an older profile lacks and borrows (BORROWED)."""
    unknown = [k for k in given if k not in KINDS]
    borrowed = tuple(k for k in BORROWED if k not in given)
    missing = [k for k in KINDS if k not in given and k not in borrowed]
    if missing or unknown:
        what = f"misses {missing[0]!r}" if missing else f"has an unknown kind {unknown[0]!r}"
        raise ProfileError(f"{path}: kinds: {what} (kinds: {', '.join(KINDS)})")
    rates = {k: _rate(f"{path}: kinds.{k}", given[k]) for k in KINDS if k not in borrowed}
    return {k: rates[BORROWED[k] if k in borrowed else k] for k in KINDS}, borrowed


def parse(text: str, path: str) -> Profile:
    """A profile from its JSON text; every error names the file and the field."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ProfileError(f"{path}: not a device profile (schema must be {SCHEMA!r}; "
                           f"`cnncli calibrate` writes one)")
    for key, kind in (("name", str), ("device", str), ("calibrated", bool), ("source", str),
                      ("combine", str), ("kinds", dict)):
        if not isinstance(data.get(key), kind):
            raise ProfileError(f"{path}: {key}: must be {JSON_TYPES[kind]}, got "
                               f"{json.dumps(data.get(key))}")
    if data["combine"] not in COMBINE or data["device"] not in ("cpu", "cuda"):
        bad = "combine" if data["combine"] not in COMBINE else "device"
        raise ProfileError(f"{path}: {bad}: {json.dumps(data[bad])} is not one of "
                           f"{', '.join(COMBINE if bad == 'combine' else ('cpu', 'cuda'))}")
    kinds, borrowed = _kinds(path, data["kinds"])
    threads = _whole(f"{path}: threads", data.get("threads"), 1)
    known = {"schema", "name", "device", "calibrated", "source", "combine", "kinds",
             "threads", "host_cpu", "backward_ratio", "fresh_above_bytes"}
    return Profile(data["name"], data["device"], data["calibrated"], data["source"],
                   data["combine"],
                   _number(f"{path}: backward_ratio", data.get("backward_ratio")) or 0.0,
                   kinds, path, threads, str(data.get("host_cpu") or ""),
                   tuple((k, v) for k, v in data.items() if k not in known), borrowed,
                   _whole(f"{path}: fresh_above_bytes", data.get("fresh_above_bytes"), 0))


def _whole(where: str, value: Any, low: int) -> int | None:
    """A whole number ≥ low, or None for null or missing."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < low):
        raise ProfileError(f"{where}: must be a whole number ≥ {low} or null")
    return value


def read(path: Path) -> Profile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read the profile: "
                           f"{getattr(exc, 'strerror', None) or exc}") from None
    return parse(text, str(path))


# -- where profiles are -------------------------------------------------------------------------

def profiles_dir() -> Path:
    return cache_dir("profiles", "CNNCLI_PROFILES")


def shipped_names() -> list[str]:
    return sorted(p.stem for p in SHIPPED.glob("*.json"))


def cpu_model() -> str:
    """This machine's CPU as /proc/cpuinfo names it (else platform's word for it)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def file_name(device: str, name: str, threads: int | None) -> str:
    """cpu-intel-r-xeon-r-processor-2t.json, cuda-nvidia-h100-80gb-hbm3.json"""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "device"
    return f"{device}-{slug}{f'-{threads}t' if threads else ''}.json"


def calibrated_here() -> list[Profile]:
    """Calibrated profiles in the cache made on this machine's CPU, newest first; files
    that cannot be read are left for `--time FILE` to report."""
    found = []
    folder = profiles_dir()
    paths = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True) \
        if folder.is_dir() else []
    here = cpu_model()
    for path in paths:
        try:
            profile = read(path)
        except ProfileError:
            continue
        if profile.host_cpu == here:
            found.append(profile)
    return found


def resolve(name: str | None) -> Profile:
    """The profile `--time NAME` means: a file, a shipped name, or (None, "auto") this
    machine's newest calibrated one."""
    if name in (None, "", "auto"):
        found = calibrated_here()
        if not found:
            raise UsageError(f"no calibrated profile for this machine in {profiles_dir()}: "
                             f"{CALIBRATE_HINT}, or name one: --time "
                             f"{' | '.join(shipped_names())} | FILE.json")
        return found[0]
    assert name is not None
    path = Path(name).expanduser()
    if path.is_file() or name.endswith(".json") or os.sep in name:
        return read(path)
    if name in shipped_names():  # named as the user names it, never by its install path
        return replace(read(SHIPPED / f"{name}.json"), path=f"shipped:{name}")
    raise UsageError(f"--time {name}: no such profile file or shipped profile"
                     f"{did_you_mean(name, shipped_names())}; shipped: "
                     f"{', '.join(shipped_names())}; or {CALIBRATE_HINT}")
