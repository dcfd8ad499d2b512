"""Pretrained weights: strict loading in torchvision's format, the classifier replaced for
another class count, outputs equal to torchvision's own model, and downloads (hash-checked,
atomic, clear offline) from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest
import torch
from conftest import TESTS
from synthetic_weights import synthetic_input, synthetic_state_dict

import cnncli
from cnncli.errors import UsageError

FIXTURES = TESTS / "fixtures"

OUTPUTS = json.loads((FIXTURES / "torchvision_outputs.json").read_text())
ZOO_OF = {"googlenet": "googlenet_tv"}


def torchvision_keys(model: str) -> dict[str, list[int]]:
    data = json.loads(gzip.decompress((FIXTURES / "torchvision.json.gz").read_bytes()))
    return data["networks"][model]["keys"]


def weights_file(tmp_path: Path, model: str, drop: str | None = None,
                 extra: str | None = None) -> Path:
    state = synthetic_state_dict(torchvision_keys(model))
    if drop:
        del state[drop]
    if extra:
        state[extra] = torch.zeros(3)
    path = tmp_path / f"{model}.pth"
    torch.save(state, path)
    return path


# three networks in the fast run (a plain, a depthwise and a Fire-module one); all 14 in the full
@pytest.mark.parametrize("model", [
    pytest.param(m, marks=() if m in {"resnet18", "mobilenet_v3_large", "squeezenet1_0"}
                 else pytest.mark.slow) for m in sorted(OUTPUTS)])
def test_outputs_equal_torchvisions_own_model(tmp_path: Path, model: str) -> None:
    """The same weights in both: our model's logits are torchvision's (measured there)."""
    expected = OUTPUTS[model]
    net = cnncli.build(ZOO_OF.get(model, model), weights=str(weights_file(tmp_path, model)))
    with torch.no_grad():
        y = net.eval()(synthetic_input(expected["input"]))
    tol = 1e-4 * max(1.0, expected["scale"])
    assert torch.allclose(y[:, :16], torch.tensor(expected["first"]), atol=tol, rtol=1e-4)
    assert torch.allclose(y.sum(1), torch.tensor(expected["sum"]), atol=tol * 50, rtol=1e-4)
    assert y.argmax(1).tolist() == expected["argmax"]


@pytest.mark.slow
def test_strict_load_names_the_keys_that_differ(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        cnncli.build("resnet18", weights=str(weights_file(tmp_path, "resnet18",
                                                          drop="layer2.0.downsample.0.weight")))
    assert "does not fit resnet18: 1 of this network's keys are not in the file (first: " \
           "layer2.0.downsample.0.weight)" in str(info.value)
    with pytest.raises(UsageError, match=r"1 keys of the file are not in this network "
                                         r"\(first: layer9.weight\)"):
        cnncli.build("resnet18", weights=str(weights_file(tmp_path, "resnet18",
                                                          extra="layer9.weight")))
    with pytest.raises(UsageError, match=r"conv1.weight is \(64, 3, 7, 7\) in the file but "
                                         r"\(64, 1, 7, 7\) here"):
        cnncli.build("resnet18", input="1x224x224",
                     weights=str(weights_file(tmp_path, "resnet18")))


def test_classifier_is_replaced_for_another_class_count(tmp_path: Path) -> None:
    path = weights_file(tmp_path, "resnet18")
    model = cnncli.build("resnet18", overrides={"classes": "10"}, weights=str(path))
    loaded = model.pretrained
    assert loaded.fresh == ["fc.weight", "fc.bias"]
    assert loaded.note == "the classifier fc is new: 1000 classes in the weights, 10 here, " \
                          "so it starts fresh"
    state = torch.load(path, weights_only=True)
    assert torch.equal(model.state_dict()["layer4.1.conv2.weight"],
                       state["layer4.1.conv2.weight"])
    assert loaded.tensors == len(state) - 2


def test_a_cnncli_checkpoint_and_its_own_state_dict_load(tmp_path: Path) -> None:
    source = cnncli.build("lenet5")
    path = tmp_path / "lenet.pth"
    torch.save(source.state_dict(), path)
    model = cnncli.build("lenet5", weights=str(path))
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)


def test_refuses_a_file_that_would_run_code(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"fc.weight": torch.zeros(1), "x": print}, path)
    with pytest.raises(UsageError, match="refusing to load|not a state_dict"):
        cnncli.build("lenet5", weights=str(path))


# -- downloads --------------------------------------------------------------------------

TINY = """
name: tiny
input: [1, 8, 8]
torchvision: {{model: tiny, weights: 'https://download.pytorch.org/models/{file}'}}
layers:
  - conv: {{name: conv, out: 2, kernel: 3}}
  - flatten
  - linear: {{name: fc, out: 3}}
"""


class Server:
    """Serves the files of a folder on 127.0.0.1 and counts the requests."""

    def __init__(self, root: Path):
        self.requests = 0
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self) -> None:
                outer.requests += 1
                super().do_GET()

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        # a short poll keeps shutdown() from waiting the default half second
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def published(tmp_path: Path, monkeypatch):
    """A tiny network's weights published as torchvision names them: name-<sha256[:8]>.pth."""
    served = tmp_path / "served"
    served.mkdir()
    state = {"conv.weight": torch.ones(2, 1, 3, 3), "conv.bias": torch.zeros(2),
             "fc.weight": torch.full((3, 72), 0.5), "fc.bias": torch.ones(3)}
    blob = tmp_path / "blob.pth"
    torch.save(state, blob)
    data = blob.read_bytes()
    file = f"tiny-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    (served / file).write_bytes(data)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY.format(file=file))
    cache = tmp_path / "cache"
    monkeypatch.setenv("CNNCLI_WEIGHTS", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    server = Server(served)
    monkeypatch.setenv("CNNCLI_WEIGHTS_URL", server.url)
    yield spec, served / file, cache, server
    server.close()


def test_download_checks_the_hash_and_caches(published, cli) -> None:
    spec, served, cache, server = published
    model = cnncli.build(str(spec), weights="torchvision")
    assert torch.equal(model.state_dict()["fc.bias"], torch.ones(3))
    assert (cache / served.name).read_bytes() == served.read_bytes()
    assert [p.name for p in cache.iterdir()] == [served.name]  # nothing half-written
    cnncli.build(str(spec), weights="imagenet")  # the alias; read from the cache
    assert server.requests == 1
    code, out, err = cli("verify", str(spec), "--weights", "torchvision")
    assert code == 0, err
    assert f"weights: 4 tensors from {cache / served.name} fit tiny" in out


def test_a_corrupted_download_is_refused_and_not_kept(published) -> None:
    spec, served, cache, _ = published
    served.write_bytes(served.read_bytes()[:-10] + b"corrupted!")
    with pytest.raises(UsageError, match="SHA-256 checksum is [0-9a-f]{64}, expected "
                                         "[0-9a-f]{8}...; the file is damaged or changed, "
                                         "so it was not kept"):
        cnncli.build(str(spec), weights="torchvision")
    assert not cache.exists() or not any(cache.iterdir())


def test_offline_is_one_sentence_naming_file_url_and_folder(published, monkeypatch,
                                                              cli) -> None:
    spec, served, cache, server = published
    server.close()
    code, out, err = cli("verify", str(spec), "--weights", "torchvision")
    assert (code, out) == (2, "")  # the failed download comes before any table
    lines = err.strip().splitlines()
    assert lines[0] == f"cnncli: downloading {server.url}{served.name} to {cache}"
    assert lines[1].startswith(f"error: cannot download {served.name} from {server.url}"
                               f"{served.name} (")
    assert lines[1].endswith(f"put that file in {cache} (or set CNNCLI_WEIGHTS to the folder "
                             "holding it)")
    assert "Traceback" not in err and len(lines) == 2


def test_a_cached_file_is_hash_checked_once(published, cli, monkeypatch) -> None:
    spec, served, cache, server = published
    cache.mkdir()
    fake = cache / served.name
    fake.write_bytes(b"not torchvision's weights")
    code, out, err = cli("verify", str(spec), "--weights", "torchvision")
    assert (code, out, server.requests) == (2, "", 0)
    assert err == (f"error: {fake}: its SHA-256 checksum is "
                   f"{hashlib.sha256(fake.read_bytes()).hexdigest()[:16]}..., not the "
                   f"{served.name[5:13]}... its name promises, so it is damaged or not the "
                   "published file; delete it and run again to download it\n")
    fake.write_bytes(served.read_bytes())
    assert cli("verify", str(spec), "--weights", "torchvision")[0] == 0
    marker = cache / f".{served.name}.checked"
    stat = fake.stat()
    assert marker.read_text() == \
        f"sha256 {served.name[5:13]} {stat.st_size} {stat.st_mtime_ns}\n"
    import cnncli.model.fetch as fetch_module  # the second use trusts the marker: no hashing

    hashed: list[Path] = []
    monkeypatch.setattr(fetch_module, "digest_of", lambda path, _: hashed.append(path))
    cnncli.build(str(spec), weights="torchvision")
    assert hashed == [] and server.requests == 0


def test_a_network_without_published_weights_says_so(cli) -> None:
    code, _, err = cli("verify", "lenet5", "--weights", "torchvision")
    assert code == 2
    assert "lenet5 has no torchvision weights" in err


def test_a_classifier_of_another_input_width_is_an_error_not_a_new_head(tmp_path) -> None:
    """Fine-tuning replaces a classifier for another class count only; a head that differs
    in its input (another network's) is a mismatch."""
    state = synthetic_state_dict(torchvision_keys("resnet18"))
    state["fc.weight"] = torch.zeros(1000, 256)
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    with pytest.raises(UsageError, match=r"fc.weight is \(1000, 256\) in the file but "
                                         r"\(1000, 512\) here"):
        cnncli.build("resnet18", weights=str(path))
