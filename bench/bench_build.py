"""Building ResNet-152 from its spec vs a hand-written torchvision-style constructor.

torchvision does not import beside the torch this project pins, so the baseline here is a
plain PyTorch ResNet-152 written the way torchvision.models.resnet writes it: Bottleneck
modules, stride on the 3x3, a 1x1 conv + BN downsample, Kaiming-normal (fan_out) conv init,
BN weight 1 and bias 0. Both are built back to back in the same process, interleaved, and
the medians are compared. Run: python bench/bench_build.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import cnncli


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        width = planes
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, layers: list[int], num_classes: int = 1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], 2)
        self.layer3 = self._make_layer(256, layers[2], 2)
        self.layer4 = self._make_layer(512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride,
                                                 bias=False), nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    baseline_params = sum(p.numel() for p in ResNet([3, 8, 36, 3]).parameters())
    ours_params = sum(p.numel() for p in cnncli.build("resnet152").parameters())
    assert baseline_params == ours_params == 60_192_808, (baseline_params, ours_params)
    base, ours, ours_meta = [], [], []
    for _ in range(args.runs):  # interleaved, so drift hits both alike
        base.append(timed(lambda: ResNet([3, 8, 36, 3])))
        ours.append(timed(lambda: cnncli.build("resnet152")))
        ours_meta.append(timed(lambda: cnncli.build("resnet152", device="meta")))
    b, o, m = (statistics.median(x) for x in (base, ours, ours_meta))
    print(f"runs: {args.runs} each, interleaved; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"torchvision-style constructor : median {b * 1000:7.1f} ms "
          f"(min {min(base) * 1000:.1f}, max {max(base) * 1000:.1f})")
    print(f"cnncli.build('resnet152')     : median {o * 1000:7.1f} ms "
          f"(min {min(ours) * 1000:.1f}, max {max(ours) * 1000:.1f})")
    print(f"cnncli.build(..., device=meta): median {m * 1000:7.1f} ms")
    print(f"ratio cnncli / baseline: {o / b:.2f}")


if __name__ == "__main__":
    main()
