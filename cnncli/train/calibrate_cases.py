"""The microbenchmarks `cnncli calibrate` times: layer cases that span what the zoo's
networks do (3 to 2048 channels, 1x1 to 300x300 maps, batch 1 to 32, tiny layers that pin
each kind's overhead, outputs of fresh memory) and a composite's own ops (add, concat)."""

from __future__ import annotations

from typing import Any

from ..layers import Shape

Case = tuple[str, dict[str, Any], Shape, int]  # layer type, options, input shape, batch


def _conv(k: int, pairs: list[tuple[int, int, int]], stride: int = 1,
          batch: int = 1) -> list[Case]:
    return [("conv", {"out": out, "kernel": k, "padding": k // 2, "stride": stride},
             (c, hw, hw), batch) for c, out, hw in pairs]


def _dw(pairs: list[tuple[int, int, int]], batch: int = 1) -> list[Case]:
    return [("conv", {"out": c, "kernel": k, "padding": k // 2, "groups": c}, (c, hw, hw),
             batch) for c, hw, k in pairs]


def _up(pairs: list[tuple[int, int, int]], kernel: int = 2, padding: int = 0,
        extra: int = 0) -> list[Case]:
    """Transposed convs of stride 2 halving the channels (U-Net's up-sampling): (input
    channels, map size, batch)."""
    return [("conv_transpose", {"out": c // 2, "kernel": kernel, "stride": 2,
                                "padding": padding, "output_padding": extra}, (c, hw, hw), b)
            for c, hw, b in pairs]


def _maps(layer: str, pairs: list[tuple[int, int]], batch: int = 1,
          **options: Any) -> list[Case]:
    return [(layer, dict(options), (c, hw, hw), batch) for c, hw in pairs]


def _table(k: int, cases: list[tuple[int, dict[int, int], int, int]]) -> list[Case]:
    """Connection-table convs: (input maps, {row length: output maps}, map size, batch);
    output map i reads `length` consecutive input maps from map i on (wrapping round)."""
    out = []
    for inputs, lengths, hw, batch in cases:
        rows = [n for n, count in lengths.items() for _ in range(count)]
        table = [sorted((i + j) % inputs for j in range(n)) for i, n in enumerate(rows)]
        out.append(("conv", {"out": len(table), "kernel": k, "connections": table},
                    (inputs, hw, hw), batch))
    return out


MAPS = [(16, 112), (64, 112), (256, 56), (512, 28), (1024, 14), (2048, 7), (64, 56)]
CASES: list[Case] = [
    *_conv(3, [(3, 32, 224), (64, 64, 56), (128, 128, 28), (256, 256, 14), (512, 512, 7),
               (32, 32, 112), (64, 64, 28)]),
    *_conv(3, [(64, 128, 56), (256, 256, 28)], stride=2),
    *_conv(3, [(512, 512, 7), (64, 64, 28)], batch=16),
    *_conv(1, [(64, 256, 56), (256, 64, 56), (128, 512, 28), (512, 128, 28), (1024, 256, 14),
               (2048, 512, 7), (16, 96, 112), (960, 160, 7), (48, 16, 28)]),
    *_conv(1, [(512, 2048, 7), (256, 64, 14)], batch=16),
    # squeeze-and-excitation: 1x1 convs on a 1x1 map (EfficientNet, MobileNetV3)
    *_conv(1, [(672, 168, 1), (168, 672, 1), (240, 64, 1), (64, 240, 1), (1152, 48, 1),
               (48, 1152, 1)]),
    *_conv(7, [(3, 64, 224)], stride=2), *_conv(5, [(64, 64, 28), (96, 96, 14)]),
    *[("conv", {"out": o, "kernel": k, "padding": k // 2, "groups": 2}, (c, hw, hw), 1)
      for c, o, hw, k in [(96, 256, 27, 5), (384, 384, 13, 3)]],
    *_conv(11, [(3, 64, 224)], stride=4), *_conv(5, [(48, 128, 28)], batch=16),
    # connection tables: one to three row lengths, so one to three grouped convs
    *_table(3, [(8, {2: 8, 4: 8}, 16, 1), (16, {4: 32}, 28, 1), (16, {4: 32}, 14, 16),
                (32, {8: 32, 16: 32}, 14, 1), (4, {2: 4, 3: 2}, 6, 1), (4, {2: 8}, 4, 1)]),
    *_table(5, [(6, {3: 4, 4: 8, 6: 4}, 12, 1), (6, {3: 4, 4: 8, 6: 4}, 20, 16),
                (12, {3: 12, 5: 12}, 24, 4), (10, {2: 10, 5: 10, 10: 2}, 18, 1)]),
    *[("conv", {"out": c, "kernel": 3, "padding": 1, "groups": 32}, (c, hw, hw), b)
      for c, hw, b in [(128, 56, 1), (256, 28, 1), (512, 14, 1), (1024, 7, 1), (256, 28, 16),
                       (64, 56, 1)]],
    *_dw([(32, 112, 3), (144, 56, 3), (192, 28, 3), (384, 14, 3), (960, 7, 3), (240, 14, 5),
          (672, 7, 5), (16, 112, 3)]),
    # transposed convs from 2x2 to 112x112 inputs, the small ones pinning the overhead,
    # (128, 56) at batch 16 writing a fresh 49 MiB output
    *_up([(1024, 14, 1), (512, 28, 1), (256, 56, 1), (128, 112, 1), (64, 16, 1), (16, 16, 1),
          (32, 8, 1), (128, 2, 1), (256, 28, 16), (64, 16, 16), (16, 16, 16), (128, 56, 16)]),
    *_up([(64, 28, 1)], kernel=3, padding=1, extra=1), *_up([(64, 28, 1)], kernel=4, padding=1),
    *[("linear", {"out": o}, (i,), b) for i, o, b in
      [(512, 1000, 1), (2048, 1000, 1), (4096, 4096, 1), (9216, 4096, 1), (1280, 1000, 1),
       (4096, 4096, 16), (2048, 1000, 16), (120, 84, 1)]],
    *[("rbf", {"out": o}, (i,), b) for i, o, b in
      [(84, 10, 1), (84, 10, 16), (256, 100, 1), (512, 500, 1), (512, 500, 16), (16, 4, 1),
       (120, 10, 4)]],
    *_maps("maxpool", [(64, 112), (64, 224), (256, 56), (512, 14)], kernel=3, stride=2,
           padding=1),
    *_maps("maxpool", [(64, 224), (512, 28)], kernel=2, stride=2),
    *_maps("avgpool", [(256, 56), (6, 28), (128, 28)], kernel=2, stride=2),
    *_maps("avgpool", [(192, 35), (768, 17), (64, 56)], kernel=3, stride=1, padding=1),
    *_maps("avgpool", [(16, 8)], kernel=2, stride=2), *_maps("maxpool", [(8, 8)], kernel=3),
    *_maps("lrn", [(96, 55), (256, 27), (64, 56)]),
    *_maps("global_avgpool", [(512, 7), (2048, 7), (1280, 7), (96, 56), (64, 56)]),
    *_maps("global_avgpool", [(2048, 7)], batch=16),
    *_maps("adaptive_avgpool", [(512, 7), (256, 6)], size=6),
    *_maps("batchnorm", MAPS), *_maps("batchnorm", [(256, 28)], batch=16),
    *_maps("layer_norm", [(96, 56), (768, 7)]),
    *_maps("relu", MAPS), *_maps("relu", [(256, 28)], batch=16),
    *_maps("hardswish", [(16, 112), (240, 14)]), *_maps("silu", [(96, 56), (1152, 7)]),
    *_maps("sigmoid", [(240, 1), (32, 16)]), *_maps("gelu", [(96, 56), (768, 7), (384, 28)]),
    *_maps("tanh", [(6, 28), (16, 10)]), *_maps("silu", [(64, 80)], batch=16),
    *[("linear", {"out": o, "pointwise": True}, (c, hw, hw), 1)
      for c, o, hw in [(96, 384, 56), (768, 192, 14)]],
    *_maps("flatten", [(512, 1), (256, 6)]), *_maps("dropout", [(512, 1)], p=0.5),
    # tiny layers, where the call is all there is: they pin each kind's fixed overhead
    *_conv(3, [(8, 8, 8), (16, 16, 4)]), *_conv(1, [(16, 16, 7), (8, 32, 4)]),
    *_conv(5, [(6, 16, 14), (1, 6, 32)]), *_dw([(16, 7, 3), (32, 4, 5)]),
    *[("conv", {"out": 16, "kernel": 3, "padding": 1, "groups": 4}, (16, hw, hw), 1)
      for hw in (4, 8)],
    *[("linear", {"out": o}, (i,), 1) for i, o in [(16, 10), (84, 10)]],
    *_maps("maxpool", [(6, 28), (16, 8)], kernel=2, stride=2), *_maps("lrn", [(8, 8)]),
    *_maps("global_avgpool", [(16, 2), (32, 4)]),
    *_maps("batchnorm", [(16, 4), (8, 8)]), *_maps("relu", [(16, 4), (8, 8)]),
    *_maps("flatten", [(16, 1)]), *_maps("dropout", [(64, 1)], p=0.2),
    # at batch 16 on 224 pixels: outputs of 24 MiB, and of 38 to 98 MiB, fresh memory
    # (`fresh_above`), as the first layers of the zoo's networks have; convs whose input
    # copy is fresh and output is not (DenseNet's transitions, MobileNet's strided ones)
    *_conv(1, [(16, 64, 112), (32, 128, 56), (128, 256, 56), (256, 128, 56)], batch=16),
    ("conv", {"out": 96, "kernel": 3, "padding": 1, "stride": 2, "groups": 96},
     (96, 112, 112), 16),
    ("linear", {"out": 4096}, (9216,), 16),
    *_conv(3, [(16, 64, 112), (32, 64, 112)], batch=16),
    *_conv(7, [(3, 64, 224)], stride=2, batch=16),
    *_dw([(64, 112, 3), (128, 56, 3)], batch=16),
    *[("conv", {"out": 256, "kernel": 3, "padding": 1, "groups": 32}, (256, 56, 56), 16)],
    *_maps("maxpool", [(64, 224)], 16, kernel=2, stride=2),
    *_maps("batchnorm", [(64, 112), (128, 112)], 16), *_maps("relu", [(64, 112), (128, 112)], 16),
    *_maps("silu", [(64, 112)], 16), *_maps("gelu", [(192, 56)], 16),
    *_maps("hardswish", [(32, 112)], 32),
    # big maps at batch 1 (EfficientNet-B3 to B7 on 300 to 600 pixels): 10 to 35 MB that
    # stream from the cache at several times the rate of batch 16's hundreds of MB
    *_maps("batchnorm", [(32, 300), (192, 150), (48, 228)]),
    *_maps("silu", [(32, 300), (192, 150), (48, 228)]),
    *_maps("global_avgpool", [(192, 150), (32, 300), (288, 75)]),
    *_dw([(192, 150, 3), (288, 75, 5), (32, 300, 3)]),
]
#: a composite's own work, timed as torch does it: an add of two maps, a concat of two
OPS = [("add", (256, 56, 56), 1), ("add", (64, 56, 56), 1), ("add", (1024, 14, 14), 1),
       ("add", (2048, 7, 7), 16), ("concat", (128, 28, 28), 1), ("concat", (32, 56, 56), 1),
       ("add", (64, 112, 112), 16)]
