"""The per-layer bf16 agreement check: it passes correct bf16, catches silent corruption (finite
and wrong, not only NaN), runs on both oneDNN kernel paths, and decides ``train.precision=auto``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from hdc_video.models.registry import build_backbone
from hdc_video.models.time_padding import TimePaddedConv3d, pad_time_explicitly
from hdc_video.train import runtime
from hdc_video.train.bf16_check import check_bf16


def _tiny(name: str = "r3d_18", pad: bool = True):
    torch.manual_seed(0)
    net = build_backbone(name, width=0.125).to(memory_format=torch.channels_last_3d)
    if pad:
        pad_time_explicitly(net)
    x = torch.randn(2, 3, 8, 32, 32).contiguous(memory_format=torch.channels_last_3d)
    return net, x


def test_correct_bf16_passes_and_the_model_is_untouched():
    net, x = _tiny()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rep = check_bf16(net, x)
    assert rep.ok, rep.summary()
    assert len(rep.layers) == sum(isinstance(m, nn.Conv3d) for m in net.modules()) == 20
    for lay in rep.layers:  # every quantity measured, and bf16 is never exact
        assert set(lay.kernel) == set(lay.emulated) == {"out", "grad_in", "grad_w"}
        assert all(0 < v < 0.05 for v in lay.emulated.values()), lay
    after = net.state_dict()  # batch-norm statistics included
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert "agrees" in rep.summary()


class _CorruptGrad(torch.autograd.Function):
    """Identity forward; backward adds finite noise as large as the gradient (cosine ~0.7 with the
    true one, like the oneDNN kernel that read uninitialised memory) -- only for bf16 tensors."""

    @staticmethod
    def forward(ctx, w):
        return w.view_as(w)

    @staticmethod
    def backward(ctx, g):
        if g.dtype != torch.bfloat16:
            return g
        noise = torch.randn(g.shape, generator=torch.Generator().manual_seed(1)).to(g)
        return g + noise * (g.float().norm() / noise.float().norm()).to(g)


class _SilentlyWrongConv(nn.Conv3d):
    def _conv_forward(self, input, weight, bias):
        return super()._conv_forward(input, _CorruptGrad.apply(weight), bias)


def test_finite_silent_corruption_of_one_weight_gradient_is_caught():
    net, x = _tiny()
    conv = net.layer3[1].conv1[0]
    conv.__class__ = type("Broken", (_SilentlyWrongConv, type(conv)), {})
    rep = check_bf16(net, x)
    assert not rep.ok
    (bad,) = rep.failures
    assert bad.name == "layer3.1.conv1.0"
    assert bad.problems == [
        f"grad_w: relative error {bad.kernel['grad_w']:.4f} vs {bad.emulated['grad_w']:.4f} for correct bf16"
    ]
    assert bad.kernel["grad_w"] > 0.5 and bad.kernel["out"] < 0.05  # the forward stays right
    assert "layer3.1.conv1.0" in rep.summary() and "1 of 20" in rep.summary()


_CHILD = """
import json, sys, torch
sys.path.insert(0, {tests!r})
from test_bf16_check import _tiny
from hdc_video.train.bf16_check import check_bf16
from hdc_video.train.runtime import cpu_bf16_path
out = {{"path": cpu_bf16_path()}}
for name in ("r3d_18", "r2plus1d_18"):
    for pad in (True, False):
        rep = check_bf16(*_tiny(name, pad))
        out[f"{{name}} {{pad}}"] = [l.name for l in rep.failures]
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.parametrize("isa", [None, "AVX512_CORE_BF16"])
def test_both_kernel_paths_agree_with_the_workaround(isa):
    """In a child process (oneDNN reads the ISA cap once): with the time-padding workaround every
    layer agrees on this CPU's native kernels and on the non-AMX ones (AMD EPYC's); without it, the
    non-AMX kernel's depth-2 weight gradient (layer3 of an 8-frame clip) is caught."""
    from pathlib import Path

    env = dict(__import__("os").environ)
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = isa
    res = subprocess.run(
        [sys.executable, "-c", _CHILD.format(tests=str(Path(__file__).parent))],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["r3d_18 True"] == [] and out["r2plus1d_18 True"] == [], out
    if out["path"] == "avx512_core_bf16":
        bad = out["r3d_18 False"]
        assert bad and all(n.startswith("layer3.") for n in bad), out
        assert "avx512_core_bf16" not in runtime.BF16_TRAINING_PROVEN  # auto trains in fp32 there


def test_auto_precision_follows_the_kernel_path(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx512f", "avx512_bf16", "amx_bf16"})
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert runtime.cpu_bf16_path() == "amx"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert runtime.cpu_bf16_path() == "avx512_core_bf16"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert runtime.cpu_bf16_path() == "none"
    assert runtime.resolve_precision("auto", cpu) is None and runtime.resolve_precision("bf16", cpu) == torch.bfloat16
    assert "no native bf16" in runtime.precision_note("auto", cpu, None)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    for path in ("amx", "avx512_core_bf16"):
        monkeypatch.setattr(runtime, "cpu_bf16_path", lambda path=path: path)
        monkeypatch.setattr(runtime, "BF16_TRAINING_PROVEN", ())
        assert runtime.resolve_precision("auto", cpu) is None  # not proven: fp32 for training ...
        assert runtime.resolve_precision("auto", cpu, training=False) == torch.bfloat16  # ... bf16 to infer
        assert "has not been shown to train like fp32" in runtime.precision_note("auto", cpu, None)
        monkeypatch.setattr(runtime, "BF16_TRAINING_PROVEN", (path,))
        assert runtime.resolve_precision("auto", cpu) == torch.bfloat16
    assert runtime.precision_note("fp32", cpu, None) == "fp32 (train.precision=fp32)"
    # channels_last_3d on a CPU whatever the precision (fp32 on an AVX2 EPYC: 1.6x faster), unless refused
    assert runtime.use_channels_last("auto", cpu) and runtime.use_channels_last("always", cpu)
    assert not runtime.use_channels_last("never", cpu)


def test_a_failing_check_means_fp32_with_the_reason(monkeypatch):
    from hdc_video.train.bf16_check import Bf16Report, LayerAgreement

    cpu = torch.device("cpu")
    monkeypatch.setattr(runtime, "cpu_bf16_path", lambda: "amx")
    monkeypatch.setattr(runtime, "BF16_TRAINING_PROVEN", ("amx",))
    bad = LayerAgreement("layer3.0.conv2.0", "conv3d (4, 64, 2, 8, 8)", problems=["grad_w: non-finite values"])
    monkeypatch.setattr(runtime, "verify_bf16", lambda *a, **k: Bf16Report([bad]))
    net, _ = _tiny(pad=False)
    dtype, note = runtime.choose_precision("auto", cpu, net, 8, 32)
    assert dtype is None and note.startswith("fp32 (auto: bf16 disagrees with fp32 in 1 of 1 layers")
    assert "layer3.0.conv2.0" in note
    assert not any(isinstance(m, TimePaddedConv3d) for m in net.modules())  # probed on a copy
    assert runtime.choose_precision("bf16", cpu, net, 8, 32)[0] == torch.bfloat16  # asked for: no check
