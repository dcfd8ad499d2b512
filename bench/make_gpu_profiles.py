"""Write the shipped, uncalibrated GPU profiles (cnncli/analysis/profiles/*.json) from each
card's published peak figures and the assumed efficiencies below (docs/counting.md).

PyTorch runs fp32 convolutions on tensor cores as TF32 where the card has them
(torch.backends.cudnn.allow_tf32 defaults to True) and fp32 matrix products without
(torch.backends.cuda.matmul.allow_tf32 defaults to False): convs take the TF32 peak, linear
layers the FP32 one. A calibrated profile (`cnncli calibrate --device cuda`) replaces all of
this with measurement.

    python bench/make_gpu_profiles.py
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "cnncli" / "analysis" / "profiles"
# name: (card, fp32 TFLOP/s, dense TF32 tensor TFLOP/s or None, memory TB/s, datasheet)
CARDS = {
    "h100-sxm": ("NVIDIA H100 SXM5 80GB", 67.0, 494.7, 3.35, "NVIDIA H100 datasheet"),
    "a100-sxm": ("NVIDIA A100 SXM4 80GB", 19.5, 156.0, 2.039, "NVIDIA A100 datasheet"),
    "rtx-4090": ("NVIDIA GeForce RTX 4090", 82.6, 82.6, 1.008,
                 "NVIDIA Ada Lovelace architecture whitepaper"),
    "t4": ("NVIDIA T4", 8.1, None, 0.320, "NVIDIA T4 datasheet"),
}
#: assumed share of the peak each kind reaches (not measured: uncalibrated)
CONV, GROUPED, DEPTHWISE, LINEAR, MEMORY = 0.5, 0.15, 0.05, 0.7, 0.8
OVERHEAD_US = 8.0  # an eager module call: Python, dispatch and a kernel launch
VIEW_US = 3.0
LAUNCH_US = 5.0  # each further kernel a module launches (the RBF's ten small ones)
RBF_KERNELS = 10


def profile(key: str) -> dict:
    card, fp32, tf32, tbs, sheet = CARDS[key]
    conv = (tf32 or fp32) * 1e3  # GFLOP/s
    bandwidth = tbs * 1e3 * MEMORY  # GB/s

    def rate(gops: float | None, weights: bool = True) -> dict:
        return {"overhead_us": OVERHEAD_US, "gops": gops, "act_gbs": bandwidth,
                "weight_gbs": bandwidth if weights else None}

    kinds = {k: rate(conv * CONV) for k in ("conv1x1", "conv3x3", "conv_kxk", "conv_transpose")}
    kinds |= {"conv_grouped": rate(conv * GROUPED),
              "conv_depthwise": rate(fp32 * 1e3 * DEPTHWISE),
              "conv_table": rate(fp32 * 1e3 * GROUPED),  # per call: a gather, a grouped conv
              "linear": rate(fp32 * 1e3 * LINEAR),
              "rbf": {**rate(fp32 * 1e3 * LINEAR),
                      "overhead_us": OVERHEAD_US + (RBF_KERNELS - 1) * LAUNCH_US},
              **{k: rate(None, k == "norm") for k in ("maxpool", "avgpool",
                                                        "global_pool", "norm",
                                                        "elementwise", "transcendental")},
              "view": {"overhead_us": VIEW_US, "gops": None, "act_gbs": None,
                       "weight_gbs": None}}
    peak = f"FP32 {fp32:g} TFLOP/s" + (f", TF32 tensor {tf32:g} TFLOP/s dense" if tf32 else "")
    return {
        "schema": "cnncli.profile/1", "name": card, "device": "cuda", "calibrated": False,
        "source": f"uncalibrated: published peak figures ({sheet}: {peak}, memory "
                  f"{tbs * 1e3:g} GB/s) times assumed efficiencies (conv {CONV:.0%}, grouped "
                  f"{GROUPED:.0%} (a connection table's: of FP32), depthwise {DEPTHWISE:.0%} of "
                  f"FP32, linear {LINEAR:.0%} of FP32, memory {MEMORY:.0%}), {OVERHEAD_US:g} "
                  f"us a layer ({LAUNCH_US:g} us more for each further kernel it launches); "
                  "`cnncli calibrate --device cuda` measures the card",
        "threads": None, "host_cpu": "", "combine": "max", "backward_ratio": 2.0,
        "fresh_above_bytes": None,  # CUDA's caching allocator keeps what it frees
        "kinds": kinds,
    }


def main() -> None:
    for key in CARDS:
        path = OUT / f"{key}.json"
        path.write_text(json.dumps(profile(key), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
