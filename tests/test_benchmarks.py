"""Smoke runs of the benchmark scripts (tiny sizes, no timing assertions): they must not rot."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
NAMES = [
    "loader",
    "step",
    "precision",
    "gpu",
    "decoders",
    "monitor",
    "bf16_conv3d_repro",
    "synth_check",
    "bf16_agreement",
    "augment_ops",
    "gpu_study",
]


def _load(name: str):
    key = f"hdc_bench_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[key] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(autouse=True)
def _keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("name", NAMES)
def test_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        _load(name).main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "usage:" in out and "--smoke" in out


@pytest.mark.slow
def test_loader_smoke(tmp_path, capsys):
    assert _load("loader").main(["--smoke", "--data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for row in ("builtin", "ucf", "project", "gpu-path workers", "decode floor", "naive peer", "x floor"):
        assert row in out


@pytest.mark.slow
def test_step_smoke(capsys):
    assert _load("step").main(["--smoke", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "hdc/bare" in out and "momentum/hdc" in out and "r3d_18" in out and "r2plus1d_18" in out


@pytest.mark.slow
def test_precision_smoke(capsys, monkeypatch):
    from hdc_video.train import runtime

    assert _load("precision").main(["--smoke", "--emulated-bf16"]) == 0
    out = capsys.readouterr().out
    assert "r3d_18 bf16+cl3d" in out and "r3d_18 bf16+cl3d+pad" in out and "non-finite grads" in out
    assert "r3d_18 fp32+cl3d" in out
    monkeypatch.setattr(runtime, "cpu_bf16_path", lambda: "none")  # AVX2: bf16 emulated, skipped
    assert _load("precision").main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert "bf16 variants skipped" in out and "r3d_18 fp32+cl3d" in out and "r3d_18 bf16" not in out


@pytest.mark.slow
def test_monitor_smoke(capsys):
    assert _load("monitor").main(["--smoke", "--videos", "8"]) == 0
    out = capsys.readouterr().out
    assert "monitor measurement" in out and "share of a run" in out


def test_bf16_repro_smoke(capsys):
    """The reproducer runs on any CPU (the failure rate it prints depends on the CPU's kernels)."""
    assert _load("bf16_conv3d_repro").main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert "oneDNN" in out and "explicit time pad" in out and "N16 C64->64 D2" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_gpu_without_cuda_says_so(capsys):
    gpu = _load("gpu")
    assert gpu.main([]) == gpu.NO_CUDA == 3
    err = capsys.readouterr().err
    assert "no CUDA device" in err and "nothing was measured" in err


def test_gpu_code_path_on_cpu(tmp_path, capsys):
    assert _load("gpu").main(["--smoke", "--device", "cpu", "--data", str(tmp_path / "v")]) == 0
    out = capsys.readouterr().out
    assert "synthetic" in out and "real" in out and "MFU %" in out


@pytest.mark.slow
def test_decoders_smoke(capsys):
    assert _load("decoders").main(["--smoke"]) == 0
    assert "clips/s" in capsys.readouterr().out


@pytest.mark.slow
def test_synth_check_smoke(capsys):
    assert _load("synth_check").main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert "one frame, repeated: motion" in out and "supervised appearance" in out


def test_bf16_agreement_smoke(capsys):
    assert _load("bf16_agreement").main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert "| r3d_18 | 4x32 | 20 | 0 |" in out and "0 failing layer(s)" in out


def test_augment_ops_counts_fewer_launches_batched(capsys):
    assert _load("augment_ops").main(["--smoke"]) == 0
    out = capsys.readouterr().out
    before, after = (int(v) for v in out.split("(")[-1].split(" ops")[0].split(" -> "))
    assert 0 < after < before


@pytest.mark.slow
def test_gpu_study_cpu_path(tmp_path, capsys):
    """The GPU study's whole path (benchmark, rows seed-major, probes, table) on the CPU, tiny."""
    assert (
        _load("gpu_study").main(["--smoke", "--device", "cpu", "--out", str(tmp_path), "--rows", "random", "hdc"]) == 0
    )
    out = capsys.readouterr().out
    assert "| random |" in out and "| hdc |" in out and "2 row x seed runs" in out
    assert (tmp_path / "study.md").is_file() and (tmp_path / "runs" / "hdc" / "seed0" / "checkpoint.pt").is_file()
