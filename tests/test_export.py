"""From a run to other code: hdc export (torchvision / hdc formats), load_backbone, torch.hub, the
public API, the README's training-loop example and examples/."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision

import hdc_video
from hdc_video.checkpoint import CheckpointError, save_atomic
from hdc_video.cli import main
from hdc_video.config import build_config
from hdc_video.models.registry import build_backbone
from hdc_video.models.weights import BACKBONE_FORMAT, load_backbone

ROOT = Path(__file__).resolve().parent.parent


def _fake_run(tmp_path: Path, name: str, width: float) -> tuple[Path, torch.nn.Module]:
    """A pretraining checkpoint holding a (randomly initialised) backbone, as `hdc pretrain` saves it."""
    torch.manual_seed(0)
    net = build_backbone(name, width=width)
    cfg = build_config(overrides=[f"model.backbone={name}", f"model.width={width}"])
    run = tmp_path / f"run_{name}_{width}"
    save_atomic(
        {
            "format": "hdc-video/1",
            "config": cfg.to_dict(),
            "step": 7,
            "data_root": "/data",
            "model": {f"backbone.{k}": v for k, v in net.state_dict().items()},
        },
        run / "checkpoint.pt",
    )
    return run, net.eval()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18"])
def test_torchvision_export_loads_strictly_and_gives_the_same_features(tmp_path, name):
    run, net = _fake_run(tmp_path, name, 1.0)
    out = tmp_path / "tv.pt"
    assert main(["export", str(run), "--format", "torchvision", "--out", str(out)]) == 0
    tv = getattr(torchvision.models.video, name)()
    tv.fc = torch.nn.Identity()
    tv.load_state_dict(torch.load(out, weights_only=True), strict=True)
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(tv.eval()(x), net(x)[-1].mean((2, 3, 4)), rtol=1e-5, atol=1e-5)
    # with a classifier of N classes the file loads into torchvision's model as it comes
    assert main(["export", str(run), "--format", "torchvision", "--num-classes", "101", "--out", str(out)]) == 0
    getattr(torchvision.models.video, name)(num_classes=101).load_state_dict(torch.load(out, weights_only=True))


def test_torchvision_export_refuses_what_torchvision_cannot_hold(tmp_path, capsys):
    run, _ = _fake_run(tmp_path, "r3d_18", 0.125)
    assert main(["export", str(run), "--format", "torchvision", "--out", str(tmp_path / "x.pt")]) == 1
    assert "width 0.125; torchvision's r3d_18 is width 1" in capsys.readouterr().err
    c3d, _ = _fake_run(tmp_path, "c3d", 0.125)
    assert main(["export", str(c3d), "--format", "torchvision", "--out", str(tmp_path / "x.pt")]) == 1
    assert "torchvision has no model for c3d" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.slow
def test_hdc_export_round_trip_hub_and_extract(tmp_path):
    run, net = _fake_run(tmp_path, "r2plus1d_18", 0.125)
    out = tmp_path / "backbone.pt"
    assert main(["export", str(run), "--out", str(out)]) == 0
    blob = torch.load(out, weights_only=True)
    assert blob["format"] == BACKBONE_FORMAT and blob["backbone"] == "r2plus1d_18" and blob["width"] == 0.125
    assert blob["provenance"]["step"] == 7 and blob["config"]["model"]["width"] == 0.125
    x = torch.randn(1, 3, 4, 32, 32)
    for loaded in (
        hdc_video.load_backbone(out),
        load_backbone(run),
        load_backbone(run / "checkpoint.pt"),
        torch.hub.load(str(ROOT), "r2plus1d_18", source="local", checkpoint=str(out), trust_repo=True),
    ):
        with torch.no_grad():
            torch.testing.assert_close(loaded(x)[-1], net(x)[-1])
    with pytest.raises(ValueError, match="holds a r2plus1d_18, not a r3d_18"):
        torch.hub.load(str(ROOT), "r3d_18", source="local", checkpoint=str(out), trust_repo=True)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt: not a readable checkpoint"):
        load_backbone(tmp_path / "junk.pt")


def test_public_api_names():
    for name in hdc_video.__all__:
        assert getattr(hdc_video, name) is not None, name
    with pytest.raises(AttributeError):
        hdc_video.no_such_name  # noqa: B018


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Use HDC in your own training loop", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 25
    return code


@pytest.mark.slow
def test_readme_training_loop_example_runs():
    scope = runpy.run_path(str(_write(_readme_example())), run_name="__main__")
    assert torch.isfinite(scope["loss"])


def _write(code: str) -> Path:
    import tempfile

    f = Path(tempfile.mkdtemp()) / "readme_example.py"
    f.write_text(code)
    return f


@pytest.mark.slow
def test_examples_train_loop_runs(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "train_loop.py"), "--steps", "2", "--out", str(tmp_path / "bench")],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    assert "step 1: HD-NCE" in proc.stdout
