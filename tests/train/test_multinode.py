"""Training across machines: torchrun with two nodes (two agents on this host, c10d
rendezvous on 127.0.0.1, one process each) reaches the same weights as one node with two
processes and the same global batch. Gloo on CPU; on CUDA the same run uses NCCL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import free_port

from cnncli.model import checkpoint

pytestmark = pytest.mark.slow  # torchrun: four processes and two rendezvous

TORCHRUN = Path(sys.executable).with_name("torchrun")
TRAIN = ["-m", "cnncli", "train", "lenet", "--data", "synthetic", "--epochs", "1",
         "--batch-size", "32", "--device", "cpu", "--seed", "3"]


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def test_two_nodes_train_the_same_weights_as_one_node(tmp_path: Path) -> None:
    one = tmp_path / "one-node"
    single = subprocess.run(
        [str(TORCHRUN), "--nnodes", "1", "--nproc-per-node", "2", "--master-addr",
         "127.0.0.1", "--master-port", str(free_port()), *TRAIN, "--out", str(one)],
        capture_output=True, text=True, timeout=300, env=env())
    assert single.returncode == 0, single.stderr[-3000:]

    two = tmp_path / "two-nodes"
    endpoint = f"127.0.0.1:{free_port()}"
    agents = [subprocess.Popen(
        [str(TORCHRUN), "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
         "--rdzv-endpoint", endpoint, "--rdzv-id", "cnncli-test", *TRAIN, "--out", str(two)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
        for _ in range(2)]
    outputs = [agent.communicate(timeout=300) for agent in agents]
    for agent, (_, err) in zip(agents, outputs):
        assert agent.returncode == 0, err[-3000:]
    said = "".join(out for out, _ in outputs)
    assert said.count("training lenet5 on synthetic") == 1  # global rank 0 only
    assert "x 2 processes" in said

    a = checkpoint.load(one / "last.pt")
    b = checkpoint.load(two / "last.pt")
    assert a["world"] == b["world"] == 2
    assert a["model"].keys() == b["model"].keys()
    for key, value in a["model"].items():
        assert torch.allclose(value.float(), b["model"][key].float(), atol=1e-6, rtol=0), key
    assert not torch.equal(a["model"]["f6.weight"], torch.zeros_like(a["model"]["f6.weight"]))
