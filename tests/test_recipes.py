"""Every command of docs/REPRODUCE.md, read from the document and run on tiny datasets in the
official UCF101 / HMDB51 / Kinetics layouts (the recipes' widths, sizes and lengths overridden), so
neither a recipe nor the instructions can rot."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from official_layouts import hmdb51_official, kinetics_official, ucf101_official

from hdc_video.cli import main
from hdc_video.config import build_config, config_search_path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "REPRODUCE.md"

# what makes each command tiny: appended overrides, or option values replaced
PRETRAIN = [
    "model.width=0.125",
    "data.clip_len=8",
    "data.size=32",
    "data.raw_size=native",
    "data.workers=0",
    "train.steps=2",
    "train.batch_size=4",
    "train.warmup_steps=1",
    "train.ckpt_every=2",
    "train.monitor_every=2",
    "train.monitor_videos=6",
    "method.head_hidden=16",
    "method.head_dim=8",
    "--no-progress",
]
SMALLER = {"--epochs": "1", "--batch-size": "4", "--num-clips": "2"}


def doc_commands() -> list[list[str]]:
    """The ``hdc ...`` lines of the document's bash blocks, split like a shell would."""
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.S)
    return [shlex.split(line)[1:] for b in blocks for line in b.splitlines() if line.startswith("hdc ")]


def tiny(args: list[str]) -> list[str]:
    out = [SMALLER.get(args[i - 1], a) if i else a for i, a in enumerate(args)]
    if out[0] == "pretrain":
        out += PRETRAIN
    if out[0] in ("finetune", "extract"):
        out += ["--workers", "0", "--no-progress"] + (["--val-clips", "0"] if out[0] == "finetune" else [])
    return out


def test_every_bundled_recipe_is_in_the_document_and_builds():
    recipes = sorted(p.stem for p in (config_search_path() / "recipes").glob("*.yaml"))
    assert len(recipes) == 6 and {r.split("_")[0] for r in recipes} == {"ucf101", "k400"}
    pretrains = [a[a.index("--config") + 1] for a in doc_commands() if a[0] == "pretrain"]
    assert sorted(pretrains) == sorted(f"recipes/{r}" for r in recipes)
    for r in recipes:
        cfg = build_config([f"recipes/{r}"])
        assert (cfg.data.clip_len, cfg.data.size, cfg.model.width, cfg.data.preset) == (16, 112, 1.0, "default")


@pytest.mark.slow
def test_the_documented_commands_run_on_official_layouts(tiny_bench, tmp_path, capsys):
    data = {
        "$UCF101": ucf101_official(tiny_bench, tmp_path / "UCF101"),
        "$HMDB51": hmdb51_official(tiny_bench, tmp_path / "HMDB51"),
        "$K400": kinetics_official(tiny_bench, tmp_path / "K400"),
    }
    runs = tmp_path / "runs"
    seen = set()
    for args in doc_commands():
        args = [str(runs) + a[len("$RUNS") :] if a.startswith("$RUNS") else str(data.get(a, a)) for a in args]
        args = tiny(args)
        seen.add(args[0])
        if args[0] == "export" and "torchvision" in args:
            # torchvision's model is width 1: the tiny run (width 0.125) is refused in one line
            assert main(args) == 1 and "torchvision's r3d_18 is width 1" in capsys.readouterr().err
            args[args.index("torchvision")] = "hdc"
        assert main(args) == 0, args
    assert seen == {"verify", "pretrain", "finetune", "extract", "linear", "retrieve", "report", "export"}
    ft = runs / "ucf101_r3d18" / "finetune_hmdb51" / "metrics.json"
    assert ft.is_file() and '"crops": 3' in ft.read_text()
    assert (runs / "ucf101_r3d18" / "report" / "index.html").is_file()
    for name in ("ucf101_r3d18", "k400_c3d", "k400_r2plus1d10"):
        assert (runs / name / "checkpoint.pt").is_file() and (runs / name / "run.json").is_file()
