"""Golden values of HDC's loss and logs: a fixed seed, model and batch, every method, with and without
the key encoder and queues, two training steps each. A refactoring of the method must reproduce them
(bit for bit on the machine that recorded them: ``HDC_GOLDEN_EXACT=1``; within float noise across
CPUs otherwise). ``HDC_GOLDEN_RECORD=1`` rewrites ``golden_hdc.json`` -- only when a change of the
numbers is intended, and say so in the commit."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from hdc_video.config import build_config
from hdc_video.models.hdc import HDC
from hdc_video.models.registry import build_backbone

GOLDEN = Path(__file__).with_name("golden_hdc.json")
BASE = ["method.head_hidden=16", "method.head_dim=8", "method.invariance_prior=0.1"]
CASES = {
    "hdc": [],
    "sc_only": ["method.name=sc_only"],
    "tc_only": ["method.name=tc_only"],
    "whole": ["method.name=whole"],
    "whole4": ["method.name=whole", "method.whole_views=4"],
    "hdc_other_view": ["method.sc_positives=other_view", "method.sc_other_crop=negative"],
    "hdc_learned": ["method.weighting=learned", "method.tc_positive=other_crop"],
}
QUEUE = ["method.momentum=0.9", "method.queue_size=8"]


def _run(overrides: list[str]) -> list[dict[str, float]]:
    torch.manual_seed(0)
    cfg = build_config(overrides=BASE + overrides).method
    model = HDC(build_backbone("r3d_18", width=0.125), cfg, clip_len=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(1)
    out = []
    for step in range(2):
        video = torch.randn(4, 4, 3, 8, 32, 32, generator=g)
        overlap = torch.tensor([0.0, 0.75, 0.0, 0.25])  # video 1's crops overlap: no TC negative
        ids = torch.tensor([3, 5, 3 + step, 9])  # a video that recurs (queue masking)
        loss, logs = model(video, overlap, ids)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.momentum_update()
        out.append({"loss": float(loss.detach()), **{k: float(v) for k, v in sorted(logs.items())}})
    return out


def _cases():
    return {
        f"{name}{'+queue' if q else ''}": over + (QUEUE if q else [])
        for name, over in CASES.items()
        for q in (False, True)
    }


@pytest.mark.skipif(os.environ.get("HDC_GOLDEN_RECORD") != "1", reason="records only on request")
def test_record_golden_values():
    GOLDEN.write_text(json.dumps({name: _run(over) for name, over in _cases().items()}, indent=1) + "\n")


@pytest.mark.parametrize("name", list(_cases()))
def test_loss_and_logs_equal_the_golden_values(name):
    want = json.loads(GOLDEN.read_text())[name]
    got = _run(_cases()[name])
    exact = os.environ.get("HDC_GOLDEN_EXACT") == "1"
    for step, (g, w) in enumerate(zip(got, want)):
        assert list(g) == list(w), (name, step)
        for key in w:
            same = (
                (math.isnan(g[key]) and math.isnan(w[key]))
                or g[key] == w[key]
                or (not exact and math.isclose(g[key], w[key], rel_tol=2e-4, abs_tol=2e-5))
            )
            assert same, f"{name} step {step} {key}: {g[key]!r} != golden {w[key]!r}"
