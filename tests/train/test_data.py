"""The dataset layer: IDX and CIFAR readers (and their refusals), downloads without a network,
image folders, fitting images to a spec's input, statistics, splits and synthetic data.

Every file here is written by the test itself; nothing touches the network or real datasets.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import math
import os
import pickle
import struct
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cnncli.errors import UsageError
from cnncli.train import datasets as data
from cnncli.train.datasets import fit

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck"]


# -- helpers: tiny files in the real formats ----------------------------------------------

def idx(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(f">I{len(dims)}I", magic, *dims) + payload


def mnist_arrays(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 10, (n,), generator=g)
    return images, labels


def mnist_files(images: torch.Tensor, labels: torch.Tensor) -> tuple[bytes, bytes]:
    n, _, h, w = images.shape
    return (idx(0x803, (n, h, w), images.numpy().tobytes()),
            idx(0x801, (len(labels),), labels.to(torch.uint8).numpy().tobytes()))


def write(path: Path, content: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        content = gzip.compress(content)
    path.write_bytes(content)
    return path


def write_mnist(folder: Path, split: str = "train", n: int = 5, gz: bool = True,
                seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = mnist_arrays(n, seed)
    image_bytes, label_bytes = mnist_files(images, labels)
    image_name, label_name = data.IDX_FILES[split]
    write(folder / image_name, image_bytes, gz)
    write(folder / label_name, label_bytes, gz)
    return images, labels


def cifar_pickle(obj: Any, protocol: int = 3) -> bytes:
    """Like the real batches (Python 2, numpy 1): bytes keys, numpy.core.multiarray names."""
    blob = pickle.dumps(obj, protocol=protocol)
    if protocol <= 3:  # text GLOBAL opcodes: the module name can be swapped in place
        blob = blob.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    return blob


def cifar_batch(n: int, classes: int, seed: int, labels_key: bytes = b"labels") -> dict:
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"batch", labels_key: [int(v) for v in rng.integers(0, classes, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(n)]}


def write_cifar10(folder: Path, per_batch: int = 2, protocol: int = 3) -> dict[str, dict]:
    folder.mkdir(parents=True, exist_ok=True)
    meta = {b"label_names": [name.encode() for name in CIFAR10_NAMES],
            b"num_cases_per_batch": per_batch, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(cifar_pickle(meta, protocol))
    batches = {}
    for i, name in enumerate([*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]):
        batches[name] = cifar_batch(per_batch, 10, i)
        (folder / name).write_bytes(cifar_pickle(batches[name], protocol))
    return batches


def cifar_images(batch: dict) -> torch.Tensor:
    return torch.from_numpy(batch[b"data"].reshape(-1, 3, 32, 32).copy())


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# -- IDX ----------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_mnist_round_trips_exactly(tmp_path: Path, gz: bool) -> None:
    images, labels = write_mnist(tmp_path, "train", n=7, gz=gz)
    test_images, test_labels = write_mnist(tmp_path, "test", n=3, gz=gz, seed=1)
    train = data.load("mnist", "train", str(tmp_path), download=False)
    test = data.load("mnist", "test", str(tmp_path), download=False)
    assert train.images.shape == (7, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.labels.dtype == torch.int64 and len(train) == 7
    assert torch.equal(train.images, images) and torch.equal(train.labels, labels)
    assert torch.equal(test.images, test_images) and torch.equal(test.labels, test_labels)
    assert train.classes == list("0123456789") and train.name == "mnist"


def test_fashion_and_kmnist_names_and_torchvision_layout(tmp_path: Path) -> None:
    images, labels = write_mnist(tmp_path / "FashionMNIST" / "raw", "test", n=4)
    fashion = data.load("fashion-mnist", "test", str(tmp_path), download=False)
    assert torch.equal(fashion.images, images) and torch.equal(fashion.labels, labels)
    assert fashion.classes[0] == "T-shirt/top" and fashion.classes[9] == "Ankle boot"
    write_mnist(tmp_path / "k", "train", n=2)
    assert data.load("kmnist", "train", str(tmp_path / "k"), download=False).classes[:3] == \
        ["o", "ki", "su"]


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_images_name_the_file_and_sizes(tmp_path: Path, gz: bool) -> None:
    path = write(tmp_path / "train-images-idx3-ubyte", idx(0x803, (3, 28, 28), bytes(1000)), gz)
    write(tmp_path / "train-labels-idx1-ubyte", idx(0x801, (3,), bytes(3)), gz)
    with pytest.raises(UsageError) as err:
        data.load("mnist", "train", str(tmp_path), download=False)
    assert str(path) in err.value.message
    assert "truncated: header says 3 images of 28x28 but the file holds 1000 bytes of pixels" \
        in err.value.message


@pytest.mark.parametrize("content,words", [
    (idx(0x801, (3,), bytes(3)), "magic number 0x00000801, expected 0x00000803"),
    (b"\x00\x00\x08\x03\x00\x00", "truncated: the header ends after 6 bytes"),
    (b"\x00\x00", "truncated: 2 bytes"),
    (idx(0x803, (2, 28, 28), bytes(2 * 784 + 5)), "corrupt: more data than the header's 2 images"),
    (idx(0x803, (0, 28, 28), b""), "declares 0 images"),
])
def test_bad_image_files_are_refused(tmp_path: Path, content: bytes, words: str) -> None:
    path = write(tmp_path / "img", content, gz=True)
    with pytest.raises(UsageError) as err:
        data.read_idx_images(path)
    assert str(path) in err.value.message and words in err.value.message


def test_broken_gzip_is_refused(tmp_path: Path) -> None:
    images, _ = mnist_arrays(20)
    packed = gzip.compress(mnist_files(images, torch.zeros(20))[0])
    cut = tmp_path / "cut.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(UsageError, match="truncated: the gzip stream ends early"):
        data.read_idx_images(cut)
    garbled = tmp_path / "garbled.gz"
    garbled.write_bytes(packed[:20] + bytes(b ^ 0xFF for b in packed[20:60]) + packed[60:])
    with pytest.raises(UsageError, match=r"garbled\.gz: (corrupt gzip|truncated)"):
        data.read_idx_images(garbled)


def test_label_count_must_match_images(tmp_path: Path) -> None:
    images, labels = mnist_arrays(3)
    image_bytes, _ = mnist_files(images, labels)
    write(tmp_path / "t10k-images-idx3-ubyte", image_bytes, gz=False)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx(0x801, (4,), bytes(4)), gz=False)
    with pytest.raises(UsageError, match="holds 4 labels but .*t10k-images-idx3-ubyte holds 3"):
        data.load("mnist", "test", str(tmp_path), download=False)


def test_labels_must_be_in_range(tmp_path: Path) -> None:
    images, _ = mnist_arrays(3)
    write(tmp_path / "t10k-images-idx3-ubyte", mnist_files(images, torch.zeros(3))[0], gz=True)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx(0x801, (3,), bytes([1, 9, 10])), gz=True)
    with pytest.raises(UsageError, match=r"labels-idx1-ubyte\.gz: label 10 at position 2 is "
                                         "outside 0-9"):
        data.load("mnist", "test", str(tmp_path), download=False)


def test_missing_files_without_download_say_what_and_where(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setenv("CNNCLI_DATA", str(tmp_path / "cache"))
    with pytest.raises(UsageError) as err:
        data.load("kmnist", "test", download=False)
    message = err.value.message
    assert "t10k-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert str(tmp_path / "cache" / "kmnist") in message and "--data-dir" in message
    assert data.dataset_dir("mnist", cache_dir=str(tmp_path)) == tmp_path / "mnist"
    monkeypatch.delenv("CNNCLI_DATA")
    assert data.dataset_dir("mnist") == Path.home() / ".cache/cnncli/datasets/mnist"


def test_unknown_names_and_folders(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no dataset named 'imagenet'; known: mnist"):
        data.load("imagenet", "train")
    with pytest.raises(UsageError, match="train or test, not 'val'"):
        data.load("mnist", "val")
    with pytest.raises(UsageError, match="no such folder"):
        data.load("mnist", "train", str(tmp_path / "nope"))


# -- CIFAR --------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_cifar10_round_trips_exactly(tmp_path: Path, protocol: int) -> None:
    batches = write_cifar10(tmp_path / "cifar-10-batches-py", protocol=protocol)
    train = data.load("cifar10", "train", str(tmp_path), download=False)
    assert train.images.shape == (10, 3, 32, 32) and train.images.dtype == torch.uint8
    expected = torch.cat([cifar_images(batches[f"data_batch_{i}"]) for i in range(1, 6)])
    assert torch.equal(train.images, expected)
    assert train.labels.tolist() == sum((batches[f"data_batch_{i}"][b"labels"]
                                         for i in range(1, 6)), [])
    assert train.classes == CIFAR10_NAMES
    # the first row of a CIFAR image is the first 32 red values
    assert train.images[0, 0, 0].tolist() == batches["data_batch_1"][b"data"][0, :32].tolist()
    # --data-dir may point straight at the batches folder
    test = data.load("cifar10", "test", str(tmp_path / "cifar-10-batches-py"), download=False)
    assert torch.equal(test.images, cifar_images(batches["test_batch"]))


def test_cifar100_uses_fine_labels(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    names = [f"class{i}" for i in range(100)]
    (folder / "meta").write_bytes(cifar_pickle({b"fine_label_names": [n.encode() for n in names],
                                                b"coarse_label_names": [b"x"] * 20}))
    batch = cifar_batch(4, 100, 7, labels_key=b"fine_labels")
    batch[b"coarse_labels"] = [0, 1, 2, 3]
    (folder / "test").write_bytes(cifar_pickle(batch))
    test = data.load("cifar100", "test", str(tmp_path), download=False)
    assert test.classes == names and test.labels.tolist() == batch[b"fine_labels"]
    assert torch.equal(test.images, cifar_images(batch))


class Hostile:
    def __init__(self, func: Any, arg: str):
        self.func, self.arg = func, arg

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return self.func, (self.arg,)


@pytest.mark.parametrize("kind", ["system", "exec"])
def test_hostile_pickle_is_refused_and_nothing_runs(tmp_path: Path, kind: str) -> None:
    write_cifar10(tmp_path)
    marker = tmp_path / "ran"
    if kind == "system":
        payload, name = Hostile(os.system, f"touch {marker}"), f"{os.system.__module__}.system"
    else:
        payload, name = Hostile(exec, f"open({str(marker)!r}, 'w').close()"), "builtins.exec"
    batch = cifar_batch(2, 10, 0)
    batch[b"labels"] = payload  # hidden inside an otherwise ordinary batch
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=4))
    with pytest.raises(UsageError) as err:
        data.load("cifar10", "test", str(tmp_path), download=False)
    assert f"tries to load {name}, which could run code" in err.value.message
    assert str(tmp_path / "test_batch") in err.value.message
    assert not marker.exists()


@pytest.mark.parametrize("change,words", [
    (lambda b: b.update({b"labels": [0, 10]}), "label 10 at position 1 is outside 0-9"),
    (lambda b: b.update({b"data": np.zeros((2, 100), np.uint8)}), "rows of 3072 pixels"),
    (lambda b: b.update({b"data": np.zeros((2, 3072), np.float32)}), "uint8"),
    (lambda b: b.update({b"labels": [0, 1, 2]}), "holds 3 labels but"),
    (lambda b: b.pop(b"data"), "no 'data' entry"),
])
def test_bad_cifar_batches_are_refused(tmp_path: Path, change: Any, words: str) -> None:
    write_cifar10(tmp_path)
    batch = cifar_batch(2, 10, 0)
    change(batch)
    (tmp_path / "test_batch").write_bytes(cifar_pickle(batch))
    with pytest.raises(UsageError, match="test_batch") as err:
        data.load("cifar10", "test", str(tmp_path), download=False)
    assert words in err.value.message


def test_garbage_and_missing_cifar_files(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    (tmp_path / "test_batch").write_bytes(b"\x80\x04garbage")
    with pytest.raises(UsageError, match="test_batch: not a readable CIFAR pickle"):
        data.load("cifar10", "test", str(tmp_path), download=False)
    (tmp_path / "batches.meta").unlink()
    with pytest.raises(UsageError, match="cifar-10-batches-py/ with test_batch, batches.meta "
                                         "not found in"):
        data.load("cifar10", "test", str(tmp_path), download=False)


# -- downloads (urlopen patched: no network) ----------------------------------------------

def serve(monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes]) -> list[tuple[str, Any]]:
    """Patch urlopen to answer from `files` (by URL); return the requests it saw."""
    seen: list[tuple[str, Any]] = []

    def urlopen(url: str, timeout: Any = None) -> io.BytesIO:
        seen.append((url, timeout))
        return io.BytesIO(files[url])

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return seen


@pytest.mark.parametrize("error", [urllib.error.URLError("no route to host"),
                                   TimeoutError("timed out"), ConnectionResetError(104, "reset")])
def test_no_network_says_which_files_go_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              error: Exception) -> None:
    def urlopen(url: str, timeout: Any = None) -> None:
        raise error

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    with pytest.raises(UsageError) as err:
        data.load("mnist", "train", cache_dir=str(tmp_path))
    message = err.value.message
    folder = tmp_path / "mnist"
    assert "cannot download mnist" in message and str(folder) in message
    assert "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz" in message
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/" in message and "--data-dir" in message
    assert files_in(folder) == []


def test_bad_checksum_keeps_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = data.SOURCES["mnist"].url + "t10k-images-idx3-ubyte.gz"
    serve(monkeypatch, {url: b"not the real file"})
    with pytest.raises(UsageError, match="MD5 checksum is .*expected 9fb629c4"):
        data.load("mnist", "test", str(tmp_path))
    assert files_in(tmp_path) == []


def test_broken_transfer_keeps_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(io.BytesIO):
        def read(self, size: int = -1) -> bytes:
            if self.tell():
                raise http.client.IncompleteRead(b"", 100)
            return super().read(4)

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: Broken(b"12345678"))
    with pytest.raises(UsageError, match="cannot download mnist"):
        data.load("mnist", "test", str(tmp_path))
    assert files_in(tmp_path) == []


def test_download_checks_and_keeps_the_files(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    images, labels = mnist_arrays(4)
    payloads = {name + ".gz": gzip.compress(content) for name, content in
                zip(data.IDX_FILES["train"], mnist_files(images, labels))}
    source = data.SOURCES["mnist"]
    for name, content in payloads.items():
        monkeypatch.setitem(source.md5, name, hashlib.md5(content).hexdigest())
    seen = serve(monkeypatch, {source.url + name: content for name, content in payloads.items()})
    train = data.load("mnist", "train", cache_dir=str(tmp_path))
    assert torch.equal(train.images, images) and torch.equal(train.labels, labels)
    assert files_in(tmp_path / "mnist") == sorted(payloads)
    assert all(url.startswith("https://ossci-datasets.s3.amazonaws.com/mnist/") and timeout
               for url, timeout in seen)
    data.load("mnist", "train", cache_dir=str(tmp_path))  # now cached: no second request
    assert len(seen) == 2


def tar_gz(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def serve_cifar10(monkeypatch: pytest.MonkeyPatch, archive: bytes) -> None:
    source = data.SOURCES["cifar10"]
    monkeypatch.setitem(source.md5, source.archive, hashlib.md5(archive).hexdigest())
    serve(monkeypatch, {source.url: archive})


def test_cifar_download_unpacks_the_archive(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    batches = write_cifar10(tmp_path / "made" / "cifar-10-batches-py")
    members = {f"cifar-10-batches-py/{p.name}": p.read_bytes()
               for p in (tmp_path / "made" / "cifar-10-batches-py").iterdir()}
    serve_cifar10(monkeypatch, tar_gz(members))
    test = data.load("cifar10", "test", cache_dir=str(tmp_path / "cache"))
    assert torch.equal(test.images, cifar_images(batches["test_batch"]))
    assert files_in(tmp_path / "cache" / "cifar10") == ["cifar-10-batches-py", *sorted(members)]


@pytest.mark.parametrize("members,links,words", [
    ({"../evil.txt": b"x", "cifar-10-batches-py/test_batch": b"y"}, None, "outside"),
    ({"/tmp/evil.txt": b"x"}, None, "outside"),
    ({"cifar-10-batches-py/a": b"y"}, {"cifar-10-batches-py/test_batch": "/etc/passwd"},
     "link"),
])
def test_unsafe_tar_members_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        members: dict, links: dict | None, words: str) -> None:
    serve_cifar10(monkeypatch, tar_gz(members, links))
    cache = tmp_path / "cache"
    with pytest.raises(UsageError, match=f"cifar-10-python.tar.gz: member .* {words}"):
        data.load("cifar10", "test", cache_dir=str(cache))
    assert files_in(cache / "cifar10") == []
    assert not (cache / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


# -- fitting and statistics ---------------------------------------------------------------

def ramp(shape: tuple[int, ...]) -> torch.Tensor:
    """Distinct non-zero pixel values, so zeros can only come from padding."""
    return (torch.arange(math.prod(shape)) % 254 + 1).to(torch.uint8).view(shape)


def test_pad_puts_the_image_in_the_centre_with_zeros() -> None:
    images = ramp((2, 1, 28, 28))
    out = data.fit_images(images, (1, 32, 32), "pad")
    assert out.shape == (2, 1, 32, 32) and out.dtype == torch.uint8
    assert torch.equal(out[:, :, 2:30, 2:30], images)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert out[:, :, border].eq(0).all()
    odd = data.fit_images(ramp((1, 1, 3, 3)), (1, 6, 6), "pad")  # 1 above, 2 below
    assert torch.equal(odd[0, 0, 1:4, 1:4], ramp((1, 1, 3, 3))[0, 0])


def test_crop_takes_the_centre_and_resize_the_shape() -> None:
    images = ramp((3, 1, 32, 32))
    assert torch.equal(data.fit_images(images, (1, 28, 28), "crop"), images[..., 2:30, 2:30])
    small = data.fit_images(images, (1, 16, 20), "resize")
    assert small.shape == (3, 1, 16, 20) and small.dtype == torch.uint8
    flat = torch.full((2, 1, 7, 7), 93, dtype=torch.uint8)
    assert data.fit_images(flat, (1, 32, 32), "resize").eq(93).all()
    assert data.fit_images(flat, (1, 3, 3), "resize").eq(93).all()


def test_channels_repeat_grey_and_take_luma_of_colour() -> None:
    grey = ramp((2, 1, 28, 28))
    rgb = data.fit_images(grey, (3, 32, 32), "pad")
    assert torch.equal(rgb[:, 0], rgb[:, 1]) and torch.equal(rgb[:, 0], rgb[:, 2])
    assert torch.equal(rgb[:, 0, 2:30, 2:30], grey[:, 0])
    colours = torch.tensor([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [10, 20, 30]],
                           dtype=torch.uint8)[:, :, None, None]
    out = data.fit_images(colours, (1, 1, 1), "resize").flatten().tolist()
    assert out == [76, 150, 29, 255, 18]  # 0.299 R + 0.587 G + 0.114 B, rounded


def test_fit_refusals() -> None:
    images = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    assert data.fit_images(images, (1, 28, 28), None) is images
    with pytest.raises(UsageError, match="images are 1x28x28 but the spec takes 3x32x32; pass "
                                         "--fit pad, resize or crop"):
        data.fit_images(images, (3, 32, 32), None)
    with pytest.raises(UsageError, match="larger than the spec's input"):
        data.fit_images(images, (1, 20, 32), "pad")
    with pytest.raises(UsageError, match="smaller than the spec's input"):
        data.fit_images(images, (1, 32, 32), "crop")
    with pytest.raises(UsageError, match="only 1 <-> 3 channels"):
        data.fit_images(images, (4, 28, 28), "pad")
    with pytest.raises(UsageError, match="flat input of 784 values"):
        data.fit_images(images, (784,), "resize")
    with pytest.raises(UsageError, match="--fit must be one of"):
        data.fit_images(images, (1, 32, 32), "stretch")


def test_fit_and_stats_are_the_same_in_small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    images = torch.randint(0, 256, (9, 3, 10, 12), generator=torch.Generator().manual_seed(4),
                           dtype=torch.uint8)
    whole = [data.fit_images(images, (1, 16, 16), mode) for mode in ("pad", "resize")]
    stats = data.normalize_stats(images)
    monkeypatch.setattr(fit, "BATCH_ELEMENTS", 700)  # two images a batch
    assert all(torch.equal(a, data.fit_images(images, (1, 16, 16), mode))
               for a, mode in zip(whole, ("pad", "resize")))
    mean, std = data.normalize_stats(images)
    assert mean == pytest.approx(stats[0], rel=1e-12) and std == pytest.approx(stats[1], rel=1e-12)


def test_normalize_stats_are_per_channel_in_unit_range() -> None:
    images = torch.randint(0, 256, (6, 3, 5, 7), generator=torch.Generator().manual_seed(1),
                           dtype=torch.uint8)
    images[:, 2] = 255  # a constant channel: std 1, never a division by zero
    mean, std = data.normalize_stats(images)
    x = images.double() / 255
    assert mean == pytest.approx(x.mean((0, 2, 3)).tolist(), abs=1e-12)
    assert std[:2] == pytest.approx(x.std((0, 2, 3), correction=0)[:2].tolist(), abs=1e-12)
    assert mean[2] == 1.0 and std[2] == 1.0
    with pytest.raises(UsageError):
        data.normalize_stats(torch.zeros(0, 1, 2, 2, dtype=torch.uint8))


# -- splits and synthetic data ------------------------------------------------------------

def numbered(n: int) -> data.ImageSet:
    """Each image's label is its index, so the split can be traced."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()
    return data.ImageSet(images, torch.arange(n), [str(i) for i in range(n)], "numbered")


def test_split_is_deterministic_and_disjoint() -> None:
    full = numbered(50)
    train, val = full.split(0.2, seed=3)
    again_train, again_val = full.split(0.2, seed=3)
    assert len(train) == 40 and len(val) == 10
    assert torch.equal(val.labels, again_val.labels) and torch.equal(train.labels,
                                                                     again_train.labels)
    assert not set(train.labels.tolist()) & set(val.labels.tolist())
    assert sorted(train.labels.tolist() + val.labels.tolist()) == list(range(50))
    assert torch.equal(val.images[:, 0, 0, 0].long(), val.labels)  # images follow their labels
    assert val.classes == full.classes and val.name == "numbered"
    assert not torch.equal(full.split(0.2, seed=4)[1].labels, val.labels)


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5, -0.1, 0.001])
def test_split_refuses_empty_sides(fraction: float) -> None:
    with pytest.raises(UsageError, match="--val-split"):
        numbered(50).split(fraction, seed=0)


def test_synthetic_is_deterministic_and_learnable() -> None:
    a = data.synthetic(600, (3, 12, 10), classes=5, seed=7)
    b = data.synthetic(600, (3, 12, 10), classes=5, seed=7)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert a.images.shape == (600, 3, 12, 10) and a.images.dtype == torch.uint8
    assert a.labels.bincount().tolist() == [120] * 5 and a.classes == list("01234")
    assert not torch.equal(data.synthetic(600, (3, 12, 10), 5, seed=8).images, a.images)
    test = data.synthetic(300, (3, 12, 10), classes=5, seed=7, split="test")
    assert not torch.equal(test.images[:10], a.images[:10])
    # nearest class mean, learned on train, scored on test: the classes are really there
    means = torch.stack([a.images[a.labels == k].float().mean(0) for k in range(5)])
    guess = torch.cdist(test.images.flatten(1).float(), means.flatten(1)).argmin(1)
    assert guess.eq(test.labels).float().mean() > 0.95
    assert len(data.load("synthetic", "test")) == 512
    with pytest.raises(UsageError, match="CxHxW"):
        data.synthetic(10, (784,))


# -- image folders ------------------------------------------------------------------------

def png(path: Path, pixels: torch.Tensor) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    c, h, w = pixels.shape
    mode = "L" if c == 1 else "RGB"
    Image.frombytes(mode, (w, h), pixels.permute(1, 2, 0).contiguous().numpy().tobytes()) \
        .save(path)


def test_imagefolder_decodes_sizes_and_channels(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    cat, dog, dog2 = ramp((3, 6, 5)), 255 - ramp((3, 6, 5)), ramp((1, 6, 5))
    png(tmp_path / "cat" / "a.png", cat)
    png(tmp_path / "dog" / "b.PNG", dog)
    png(tmp_path / "dog" / "deeper" / "c.png", dog2)
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    samples, classes = data.load_imagefolder(str(tmp_path))
    assert classes == ["cat", "dog"]
    assert [(p.name, label) for p, label in samples] == [("a.png", 0), ("b.PNG", 1),
                                                         ("c.png", 1)]
    same = data.ImageFolderDataset(str(tmp_path), (6, 5), 3)
    assert len(same) == 3 and same.classes == classes
    image, label = same[1]
    assert torch.equal(image, dog) and label == 1
    assert torch.equal(same[2][0], dog2.expand(3, 6, 5))  # grey file, colour wanted
    grey, _ = data.ImageFolderDataset(str(tmp_path), (6, 5), 1)[0]
    luma = data.fit_images(cat[None], (1, 6, 5), "resize")[0]
    assert (grey.int() - luma.int()).abs().max() <= 1  # Pillow's integer luma
    resized = data.ImageFolderDataset(str(tmp_path), (12, 8), 3)
    (images, labels), = data.stream_batches(resized, [[0, 1, 2]], workers=0, pin=False)
    assert images.shape == (3, 3, 12, 8) and labels.tolist() == [0, 1, 1]
    from types import SimpleNamespace

    from cnncli.train.infer import predict_image

    net, record = SimpleNamespace(name="n", input=[1, 8, 8]), {"mean": [0.5], "fit": None}
    assert predict_image(str(tmp_path / "cat" / "a.png"), net, record, None, False).shape \
        == (1, 8, 8)  # predicting resizes when training needed no fitting


def test_imagefolder_refusals(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    with pytest.raises(UsageError, match="no such folder"):
        data.load_imagefolder(str(tmp_path / "nope"))
    (tmp_path / "loose.png").write_bytes(b"")
    with pytest.raises(UsageError, match="no class subfolders"):
        data.load_imagefolder(str(tmp_path))
    png(tmp_path / "a" / "ok.png", ramp((1, 4, 4)))
    (tmp_path / "b").mkdir()
    with pytest.raises(UsageError, match=f"{tmp_path / 'b'}: no .png, .jpg or .jpeg images"):
        data.load_imagefolder(str(tmp_path))
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    dataset = data.ImageFolderDataset(str(tmp_path), (4, 4), 1)
    with pytest.raises(UsageError, match=r"broken\.png: cannot read the image"):
        dataset[1]
    with pytest.raises(UsageError, match=r"broken\.png: cannot read the image"):
        list(data.stream_batches(dataset, [[0, 1]], workers=1, pin=False))  # in a worker


def test_imagefolder_without_pillow_says_how_to_get_it(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL now fails, as if not installed
    with pytest.raises(UsageError, match=r"imagefolder needs Pillow: pip install "
                                         r"'cnncli\[images\]'"):
        data.ImageFolderDataset(str(tmp_path), (28, 28), 1)
