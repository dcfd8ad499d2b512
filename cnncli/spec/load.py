"""Load a spec (a file or a zoo name, found by `locate`), apply its variant and overrides, read
its includes, resolve it to IR."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import Mark, SpecError, UsageError, did_you_mean, yaml_repr
from ..layers import shape_text
from .blocks import NAME_RE, Block, parse_block
from .graph import network_outputs
from .ir import Network
from .locate import STDIN, locate
from .pretrained import parse_torchvision
from .recipe import parse_recipe
from .resolve import Resolver
from .variants import only_variant, plain, warn_overridden
from .yamlsrc import (
    MAX_BYTES,
    YList,
    YMap,
    first_content_mark,
    parse_yaml,
    read_text,
    type_word,
)

TOP_KEYS = ("name", "description", "aliases", "input", "params", "blocks", "include", "layers",
            "outputs", "variants", "variant", "init", "train", "torchvision")
INITS = ("auto", "kaiming", "xavier", "torch")
VARIANT_KEYS = ("description", "aliases", "params", "input", "train", "torchvision")
MAX_INPUT_SIDE = 1 << 20


def load(ref: str | Network, overrides: Mapping[str, Any] | None = None,
         input_shape: str | tuple[int, ...] | None = None) -> Network:
    """Read and resolve a spec (a file or a zoo name); a Network passes through as it is.

    `overrides` are `--set` values (text or Python values).
    """
    if isinstance(ref, Network):
        if overrides or input_shape is not None:
            raise UsageError("overrides and input apply when loading; pass the spec name")
        return ref
    file, variant = locate(ref)
    return load_file(file, variant, overrides, input_shape, ask=None if file == STDIN else ref)


def load_file(file: str, variant: str | None, overrides: Mapping[str, Any] | None = None,
              input_shape: str | tuple[int, ...] | None = None, ask: str | None = None,
              text: str | None = None, roots: tuple[str, ...] | None = None) -> Network:
    """Read and resolve one spec file, with a variant of its `variants` or none.

    With `ask` (the reference as the user wrote it), a family file (several variants) with
    no variant chosen and no `variant:` line is refused with the list to choose from, as the
    family's name is; one variant alone is used. With `text`, that is the spec (named `file`
    in messages, nothing read from it); with `roots`, includes come only from those folders.
    """
    files: dict[str, str] = {} if text is None else {file: text}
    if text is None and file.lower().endswith(".onnx"):
        data = _read_onnx(file, files, input_shape)
    else:
        data = _read(file, files)
    if data is None:
        raise SpecError("the spec file is empty", Mark(file, 1, 1))
    if not isinstance(data, YMap):
        raise SpecError(f"a spec is a mapping with name, input and layers; this file holds "
                        f"{type_word(data)}",
                        getattr(data, "mark", None) or first_content_mark(files[file], file))
    _check_keys(data, TOP_KEYS, "a spec")
    for key in ("input", "layers"):
        if key not in data:
            raise SpecError(f"the spec has no {key!r}", data.mark)
    name = str(data.get("name", Path(file).stem))
    description = data.get("description", "")
    params = _declared_params(data)
    declared = dict(params)  # --set values take the declared default's type, not a variant's
    _check_variants(data, params)
    _check_aliases(data)
    default = _default_variant(data)  # checked even when FILE:VARIANT picks another
    if variant is None and default is not None:
        warn_overridden(data, default)
    variant = variant or default or (only_variant(data, ask) if ask else None)
    if data.get("train") is not None and not isinstance(data["train"], YMap):
        raise SpecError("train must be a mapping of option: value", data.mark_of("train"))
    shape_raw, shape_mark = data["input"], data.mark_of("input")
    recipe = data.get("train")
    if variant is not None:
        name, description, shape = _apply_variant(data, variant, params, description)
        if shape is not None:
            shape_raw, shape_mark = shape
        recipe = _variant_recipe(recipe, (data["variants"][variant] or {}).get("train"))
    train = parse_recipe(recipe)  # typed now, so summary and check refuse what train would
    tv_box = (data["variants"][variant] or {}) if variant is not None else {}
    tv_box = tv_box if "torchvision" in tv_box else data
    torchvision = parse_torchvision(tv_box["torchvision"], tv_box.mark_of("torchvision"), name) \
        if "torchvision" in tv_box else None
    applied = {key: _override(key, value, params, declared.get(key))
               for key, value in (overrides or {}).items()}
    params.update(applied)
    blocks = collect_blocks(data, file, set(), files, roots)
    resolver = Resolver(blocks, params)
    raw_shape = shape_raw if isinstance(shape_raw, str) else resolver.value(
        shape_raw, params, shape_mark)  # "3x224x224" is a shape, not an expression
    shape_value = _spec_shape(raw_shape, shape_mark)
    if input_shape is not None:
        given = parse_shape(input_shape) if isinstance(input_shape, str) else input_shape
        if isinstance(input_shape, str):
            _check_axis_order(input_shape, given, shape_value)
        shape_value = given
    root = resolver.network(data["layers"], data.mark_of("layers"), tuple(shape_value))
    outputs = network_outputs(data["outputs"], data.mark_of("outputs"), root) \
        if "outputs" in data else {}
    init = data.get("init", "auto")
    if init not in INITS:
        raise SpecError(f"init must be one of {', '.join(INITS)}, got {init!r}",
                        data.mark_of("init"))
    return Network(name=name, description=str(description or ""), input=tuple(shape_value),
                   root=root, source=file, params=params, init=init, variant=variant,
                   overrides=applied, files=files, train=train, torchvision=torchvision,
                   outputs=outputs)


def _read(path: str, files: dict[str, str]) -> Any:
    text = files.get(path)
    if text is None:
        text = _read_stdin() if path == STDIN else read_text(path)
    files[path] = text
    return parse_yaml(text, path)


def _read_onnx(path: str, files: dict[str, str],
               input_shape: str | tuple[int, ...] | None) -> Any:
    """An ONNX file as the spec `cnncli import` writes for it (numpy, which the importer
    uses, is a heavy import: only a file that needs it loads it)."""
    from .. import onnxin

    given = parse_shape(input_shape) if isinstance(input_shape, str) else input_shape
    text = onnxin.load(path, given).text
    files[path] = text
    # places are lines of the spec `cnncli import` writes for the file, not of the file
    return parse_yaml(text, f"{path} (imported)")


def _read_stdin() -> str:
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("SPEC is - but nothing is piped in; e.g. cat my_net.yaml | cnncli "
                         "summary -")
    text = sys.stdin.read(MAX_BYTES + 1)
    if len(text) > MAX_BYTES:
        raise SpecError(f"the spec on standard input is larger than {MAX_BYTES >> 20} MiB",
                        Mark(STDIN, 1, 1))
    return text


def _check_keys(box: YMap, allowed: tuple[str, ...], what: str) -> None:
    for key in box:
        if key not in allowed:
            raise SpecError(f"unknown key {key!r} in {what}{did_you_mean(key, allowed)}; "
                            f"allowed: {', '.join(allowed)}", box.key_marks[key])


def _declared_params(data: YMap) -> dict[str, Any]:
    raw = data.get("params")
    if raw is None:
        return {}
    if not isinstance(raw, YMap):
        raise SpecError("params must be a mapping of name: default value", data.mark_of("params"))
    for key, value in raw.items():
        if not NAME_RE.fullmatch(key) or key.startswith("_"):
            raise SpecError(f"parameter name {key!r} must be a plain identifier not starting "
                            "with _", raw.key_marks[key])
        if value is None:
            raise SpecError(f"parameter {key!r} needs a default value", raw.key_marks[key])
    return dict(raw)


def _check_variants(data: YMap, params: dict[str, Any]) -> None:
    """Every variant's shape, whichever one (if any) is used: a typo fails `check` too."""
    if "variants" not in data:
        return
    variants = data["variants"]
    if not isinstance(variants, YMap):
        raise SpecError("variants must be a mapping of variant name: {description, params, "
                        "input}", data.mark_of("variants"))
    for variant, spec in variants.items():
        if spec is None:
            continue
        if not isinstance(spec, YMap):
            raise SpecError(f"variant {variant!r} must be a mapping of "
                            f"{', '.join(VARIANT_KEYS)}", variants.mark_of(variant))
        _check_keys(spec, VARIANT_KEYS, f"variant {variant!r}")
        raw = spec.get("params")
        if raw is not None and not isinstance(raw, YMap):
            raise SpecError("variant params must be a mapping", spec.mark_of("params"))
        for key in raw or ():
            if key not in params:
                raise SpecError(f"variant {variant!r} sets {key!r}, which the spec's params do "
                                f"not declare{did_you_mean(key, params)}", raw.key_marks[key])
        if spec.get("train") is not None and not isinstance(spec["train"], YMap):
            raise SpecError(f"variant {variant!r}: train must be a mapping of option: value",
                            spec.mark_of("train"))


def _check_aliases(data: YMap) -> None:
    """`aliases:` at the top and in each variant: a list of names."""
    boxes = [data] + [v for v in (data.get("variants") or {}).values() if isinstance(v, YMap)]
    for box in boxes:
        if "aliases" not in box:
            continue
        raw = box["aliases"]
        if not isinstance(raw, list) or not all(isinstance(a, str) and a.strip() for a in raw):
            raise SpecError("aliases must be a list of names, e.g. [lenet, lenet-5]",
                            box.mark_of("aliases"))


def _default_variant(data: YMap) -> str | None:
    """The variant a family file selects for itself with `variant: NAME`, if any."""
    if "variant" not in data:
        return None
    chosen, variants = data["variant"], data.get("variants")
    if not isinstance(variants, YMap) or chosen not in variants:
        known = ", ".join(variants) if isinstance(variants, YMap) else "none"
        raise SpecError(f"variant: {chosen!r} is not one of this file's variants "
                        f"({known})", data.mark_of("variant"))
    return str(chosen)


def _apply_variant(data: YMap, variant: str, params: dict[str, Any],
                   description: Any) -> tuple[str, Any, tuple[Any, Mark] | None]:
    spec = data["variants"][variant]  # its shape was checked by _check_variants
    if spec is None:
        return variant, description, None
    params.update(spec.get("params") or {})
    shape = (spec["input"], spec.mark_of("input")) if "input" in spec else None
    return variant, spec.get("description", description), shape


def _variant_recipe(recipe: YMap | None, own: YMap | None) -> YMap | None:
    """The spec's `train:` with the variant's own `train:` keys on top, marks kept."""
    if not own:
        return recipe
    merged = YMap({**(recipe or {}), **own})
    merged.mark = own.mark
    merged.key_marks = {**getattr(recipe, "key_marks", {}), **own.key_marks}
    merged.value_marks = {**getattr(recipe, "value_marks", {}), **own.value_marks}
    return merged


def _override(key: str, value: Any, params: dict[str, Any], declared: Any = None) -> Any:
    """A `--set` value, parsed like YAML and checked against the type of the default the
    spec declares (a variant's `drop: 0` leaves `drop` a number, not an integer); errors name
    the option the value came from (`--sweep` for a Swept value)."""
    option = getattr(value, "option", "--set")
    if key not in params:
        known = ", ".join(sorted(params)) or "none"
        raise UsageError(f"{option} {key}: the spec has no parameter {key!r}"
                         f"{did_you_mean(key, params)}; its parameters: {known}")
    if isinstance(value, str):
        try:
            value = parse_yaml(str(value), option) if value.strip() else str(value)
        except SpecError as exc:
            raise UsageError(f"{option} {key}: cannot read {value!r} ({exc.message})") from None
    value = plain(value)
    default = params[key]  # shown as the example: the value in force
    typed = default if declared is None else declared
    expected: type | tuple[type, ...] = type(typed)
    if isinstance(typed, float):
        expected = (int, float)
    elif isinstance(typed, list):
        expected = list
    ok = isinstance(value, expected) and (isinstance(typed, bool) == isinstance(value, bool))
    if not ok:
        raise UsageError(f"{option} {key}: expected {_type_word(typed)} like "
                         f"{yaml_repr(default)}, got {yaml_repr(value)}")
    return value


def _type_word(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    return "an integer" if isinstance(value, int) else type_word(value)


def parse_shape(text: str) -> tuple[int, ...]:
    """`--input` text: CxHxW (e.g. 3x224x224) or F for a flat input."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise UsageError(f"--input {text!r}: write CxHxW like 3x224x224 (or F for a vector)") \
            from None
    if len(dims) not in (1, 3):
        raise UsageError(f"--input {text!r}: give 3 sizes CxHxW (or 1 for a vector), "
                         f"not {len(dims)}")
    for d in dims:
        if not 1 <= d <= MAX_INPUT_SIDE:
            raise UsageError(f"--input {text!r}: every size must be between 1 and "
                             f"{MAX_INPUT_SIDE:,}")
    return dims


def _check_axis_order(text: str, given: tuple[int, ...], spec: tuple[int, ...]) -> None:
    """Refuse HxWxC (as PIL and TensorFlow write it) where the spec's input is CxHxW."""
    if len(given) == 3 and len(spec) == 3 and given[2] == spec[0] != given[0]:
        flipped = shape_text((given[2], given[0], given[1]))
        raise UsageError(f"--input {text}: the last size is the spec's {spec[0]} input "
                         f"channels; did you mean {flipped}? (--input is channels x height x "
                         "width)")


def _spec_shape(value: Any, mark: Mark) -> tuple[int, ...]:
    if isinstance(value, str):
        try:
            return parse_shape(value)
        except UsageError as exc:
            raise SpecError(exc.message.replace("--input", "input"), mark) from None
    if isinstance(value, list):  # sizes may be written 3.0
        value = [int(d) if isinstance(d, float) and d.is_integer() else d for d in value]
    ok = isinstance(value, list) and len(value) in (1, 3) and all(
        isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_INPUT_SIDE
        for d in value)
    if not ok:
        raise SpecError(f"input must be [C, H, W] (or [F]) of positive integers, got {value!r}",
                        mark)
    return tuple(value)


def collect_blocks(data: YMap, file: str, seen: set[str], files: dict[str, str],
                   roots: tuple[str, ...] | None = None) -> dict[str, Block]:
    """The spec's own blocks plus those of its `include` files (paths relative to it, or
    with `roots` found in those folders only)."""
    seen = seen | {os.path.realpath(file)}
    blocks: dict[str, Block] = {}
    includes = data.get("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list):
        raise SpecError("include must be a file name or a list of them", data.mark_of("include"))
    marks = includes.item_marks if isinstance(includes, YList) else [data.mark_of("include")]
    for item, mark in zip(includes, marks):
        if not isinstance(item, str):
            raise SpecError(f"include takes file names, got {item!r}", mark)
        path = os.path.join(os.path.dirname(file), item) if roots is None \
            else _rooted(item, file, roots, mark)
        if os.path.realpath(path) in seen:
            raise SpecError(f"include {item!r} includes itself (a cycle)", mark)
        if not os.path.isfile(path):
            raise SpecError(f"included file {item!r} not found (looked at {path})", mark)
        included = _read(path, files)
        if not isinstance(included, YMap):
            raise SpecError(f"included file {item!r} must be a mapping with blocks", mark)
        _check_keys(included, ("description", "blocks", "include"), f"included file {item!r}")
        _merge_blocks(blocks, collect_blocks(included, path, seen, files, roots), mark)
    raw = data.get("blocks")
    if raw is not None and not isinstance(raw, YMap):
        raise SpecError("blocks must be a mapping of block name: definition",
                        data.mark_of("blocks"))
    own = {name: parse_block(name, body, raw.key_marks[name]) for name, body in (raw or {}).items()}
    _merge_blocks(blocks, own, None)
    return blocks


def _rooted(item: str, file: str, roots: tuple[str, ...], mark: Mark) -> str:
    """The include `item` inside one of `roots` (the including file's folder first, when it is
    one of them): an absolute path, `..` or a link that leads out of them is refused."""
    real_roots = [os.path.realpath(r) for r in roots]
    here = os.path.realpath(os.path.dirname(file) or ".")
    inside = any(os.path.commonpath([here, r]) == r for r in real_roots)
    for root in ([here] if inside else []) + real_roots:
        path = os.path.realpath(os.path.join(root, item))
        if os.path.commonpath([path, root]) == root and os.path.isfile(path):
            return path
    raise SpecError(f"included file {item!r} is not in the folders this spec may include from "
                    f"({', '.join(roots)})", mark)


def _merge_blocks(into: dict[str, Block], new: dict[str, Block], mark: Mark | None) -> None:
    for name, block in new.items():
        if name in into:
            first = into[name].mark
            raise SpecError(f"block {name!r} is defined twice (also at {first})",
                            mark or block.mark)
        into[name] = block


