"""The path to a cluster: the SLURM launch line from SLURM's variables, and --auto-resume."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from conftest import TINY

from hdc_video.cli import main
from hdc_video.train.metrics import read_metrics

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = ROOT / "scripts" / "slurm" / "launch.sh"


def _launch_line(env: dict, *args: str) -> list[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MASTER_", "GPUS_PER_NODE"))}
    out = subprocess.run(
        ["bash", str(LAUNCH), *args],
        env={**base, "HDC_DRY_RUN": "1", "PYTHON": "py", **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return shlex.split(out)


@pytest.mark.parametrize(
    "nodelist, master", [("gpu[07-08]", "gpu07"), ("a17,b3", "a17"), ("node5", "node5"), ("gpu[1,3]", "gpu1")]
)
def test_launch_line_from_a_fake_slurm_environment(nodelist, master):
    env = {
        "DATA": "/datasets/UCF101",
        "RUN": "/shared/run 1",
        "SLURM_NNODES": "2",
        "SLURM_NODEID": "1",
        "SLURM_JOB_NODELIST": nodelist,
        "SLURM_GPUS_ON_NODE": "4",
        "SLURM_JOB_ID": "31234",
        "PATH": "/usr/bin:/bin",
    }
    line = _launch_line(env, "--config", "recipes/ucf101_r3d18", "train.steps=10")
    assert line == [
        "py",
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "2",
        "--nproc_per_node",
        "4",
        "--node_rank",
        "1",
        "--master_addr",
        master,
        "--master_port",
        "31234",
        "-m",
        "hdc_video",
        "pretrain",
        "--data",
        "/datasets/UCF101",
        "--out",
        "/shared/run 1",
        "--auto-resume",
        "--config",
        "recipes/ucf101_r3d18",
        "train.steps=10",
    ]


def test_launch_needs_data_and_run():
    proc = subprocess.run(
        ["bash", str(LAUNCH)], env={"PATH": "/usr/bin:/bin", "HDC_DRY_RUN": "1"}, capture_output=True, text=True
    )
    assert proc.returncode != 0 and "set DATA to the dataset root" in proc.stderr


def test_sbatch_script_requeues_and_runs_launch_under_srun():
    text = (ROOT / "scripts" / "slurm" / "pretrain.sbatch").read_text()
    for needle in (
        "#SBATCH --requeue",
        "#SBATCH --signal=B:USR1@",
        "scontrol requeue",
        "srun",
        "scripts/slurm/launch.sh",
        "#SBATCH --ntasks-per-node=1",
    ):
        assert needle in text, needle
    assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / "slurm" / "pretrain.sbatch")]).returncode == 0


@pytest.mark.slow
def test_auto_resume_twice_continues_instead_of_restarting(tiny_bench, tmp_path):
    """A requeued job runs the same command again: the second run continues from the checkpoint."""
    run = tmp_path / "run"
    args = [
        "pretrain",
        "--data",
        str(tiny_bench),
        "--out",
        str(run),
        "--auto-resume",
        "--no-progress",
        *TINY,
        "train.ckpt_every=2",
    ]
    assert main(args + ["train.steps=2"]) == 0  # nothing there: starts fresh
    first = read_metrics(run)
    assert main(args + ["train.steps=4"]) == 0  # a checkpoint: continues
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and rows[:2] == first
    assert json.loads((run / "run.json").read_text())["end"]["steps_this_run"] == 2
    assert main(args[:6] + ["--resume", *args[6:], "train.steps=4"]) == 1  # both flags: refused
