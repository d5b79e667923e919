"""Shared fixtures: a tiny real benchmark written by the project's own generator."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hdc_video.synth import generate_benchmark

# A tiny model and clip size: every test that trains runs in seconds on a 2-core CPU. (4-frame
# clips leave the last two levels one time step: sc_min_steps=1 keeps SC on every level, as the
# mechanics tests expect; tests/test_method_switches.py tests the skip itself.)
TINY = [
    "model.backbone=r3d_18",
    "model.width=0.125",
    "method.head_hidden=32",
    "method.head_dim=16",
    "method.sc_min_steps=1",
    "data.clip_len=4",
    "data.stride=2",
    "data.size=32",
    "data.workers=0",
    "train.batch_size=8",
    "train.optimizer=adamw",
    "train.lr=0.003",
    "train.warmup_steps=2",
    "train.log_every=1",
]


def same(a, b) -> bool:
    """``torch.equal`` where NaN equals NaN (the invariance EMA holds NaN for a level not measured yet)."""
    import torch

    return a.shape == b.shape and torch.equal(a.nan_to_num(nan=-7.0), b.nan_to_num(nan=-7.0))


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory):
    """3 digits x 5 motions x 4 videos (3 train, 1 test per class), 24 frames of 48x48."""
    out = tmp_path_factory.mktemp("bench") / "bench"
    return generate_benchmark(
        out,
        digits=3,
        motions=5,
        videos_per_class=4,
        frames=24,
        size=48,
        seed=0,
        test_groups=1,
        workers=1,
        progress=False,
    )


def free_port() -> int:
    """A free TCP port on the loopback interface (a process group's MASTER_PORT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_env() -> dict[str, str]:
    """Rendezvous on the loopback interface only (never an external one)."""
    env = {"MASTER_ADDR": "127.0.0.1"}
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"
    return env
