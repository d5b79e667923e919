"""What every trainer shares (pretraining and fine-tuning): the run folder, the process group, the
DDP wrapper, atomic checkpoints, the start-up and end-of-run facts, and the test-only fault hooks.

* :func:`open_run` decides fresh or resumed: ``resume=False`` refuses a folder that holds a run,
  ``True`` needs one (of the right checkpoint format), ``"auto"`` takes whichever is there;
* :func:`refuse_changes` names the settings a resumed run may not change;
* :func:`enter_run` joins torchrun's process group, leaves the story to rank 0 and creates the
  folder once every rank has checked it;
* :class:`Runner` (the trainers' base class): the resolved device, rank and world size,
  :meth:`Runner.wrap` (DDP), :meth:`Runner.save` (rank 0 writes atomically, every rank waits),
  :meth:`Runner.announce` / :meth:`Runner.finish` (``log.txt`` and ``run.json``,
  :mod:`hdc_video.train.run_info`), and the fault hooks the resume tests use
  (``HDC_FAULT_KILL_AT_STEP``: SIGKILL right after that step; ``HDC_FAULT_STOP_AT_EPOCH``: an
  interrupt after that epoch).
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

from torch import nn

from hdc_video import dist
from hdc_video.checkpoint import CheckpointError, load_checkpoint, save_atomic
from hdc_video.config import ConfigError
from hdc_video.train import distributed as ddp
from hdc_video.train.guard import TrainingError
from hdc_video.train.run_info import log_end, log_start, write_run_json
from hdc_video.train.runtime import resolve_device

log = logging.getLogger("hdc_video")

__all__ = ["Runner", "enter_run", "open_run", "refuse_changes"]


def open_run(out: Path, resume: bool | str, fmt: str, what: str) -> dict | None:
    """The checkpoint state to resume from ``out``, or None for a fresh run (see the module doc)."""
    ckpt = Path(out) / "checkpoint.pt"
    if resume == "auto":
        resume = ckpt.exists()
        if resume:
            log.info("--auto-resume: %s holds a checkpoint, resuming it", out)
    if not resume:
        if ckpt.exists():
            raise TrainingError(
                f"{out} already holds a {what} run (checkpoint.pt); pass --resume to continue it "
                f"or choose another --out"
            )
        return None
    state = load_checkpoint(ckpt)
    if state.get("format") != fmt:
        raise CheckpointError(f"{ckpt}: not an hdc-video {what} checkpoint")
    return state


def refuse_changes(changed: list[str], allowed: set[str], name=str) -> None:
    """A one-line :class:`ConfigError` when a resumed run changes anything outside ``allowed``
    (``name`` spells a key the way the user gave it, e.g. ``--num-clips``)."""
    frozen = [k for k in changed if k not in allowed]
    if frozen:
        raise ConfigError(
            f"cannot change {', '.join(map(name, frozen))} when resuming "
            f"(only {', '.join(name(k) for k in sorted(allowed))} may change)"
        )


def enter_run(device: str, out: Path) -> None:
    """Join the process group (a no-op outside torchrun); only rank 0 tells the story; every rank
    has checked ``out`` before rank 0 creates it."""
    if ddp.init_distributed(resolve_device(device)) and not dist.is_main():
        logging.getLogger("hdc_video").setLevel(logging.WARNING)
    dist.barrier()
    if dist.is_main():
        Path(out).mkdir(parents=True, exist_ok=True)


class Runner:
    """The base of a trainer writing into ``out``: ``self.device`` (this process's), ``self.rank``,
    ``self.world``, ``self.main``."""

    def __init__(self, device: str, out: str | Path):
        dev = resolve_device(device)
        ddp.init_distributed(dev)  # no-op outside torchrun
        self.device = ddp.local_device(dev)
        self.rank, self.world = dist.rank(), dist.world_size()
        self.main = self.rank == 0
        self.out = Path(out)

    @property
    def ckpt_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def wrap(self, model: nn.Module, sync_bn: bool = False, find_unused: bool = False) -> nn.Module:
        """``model`` itself in one process; under torchrun DDP around it (SyncBatchNorm first when
        ``sync_bn``: same parameters and state-dict keys, so checkpoints are unchanged)."""
        if self.world == 1:
            return model
        if sync_bn:
            nn.SyncBatchNorm.convert_sync_batchnorm(model)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused)

    def save(self, state: dict) -> Path:
        """Rank 0 writes ``checkpoint.pt`` atomically; every rank waits until it is on disk."""
        if self.main:
            save_atomic(state, self.ckpt_path)
        dist.barrier()
        return self.ckpt_path

    def announce(self, facts: dict, what: str) -> None:
        if self.main:
            log_start(facts, what)
            write_run_json(self.out, facts)

    def finish(self, facts: dict, end: dict, what: str) -> None:
        if self.main:
            log_end(end, what)
            write_run_json(self.out, facts, end)

    @staticmethod
    def fault_after_step(step: int) -> None:
        """Test hook: SIGKILL this process right after ``HDC_FAULT_KILL_AT_STEP``."""
        if int(os.environ.get("HDC_FAULT_KILL_AT_STEP", "0")) == step:
            os.kill(os.getpid(), signal.SIGKILL)

    @staticmethod
    def fault_after_epoch(epoch: int) -> None:
        """Test hook: an interrupt right after ``HDC_FAULT_STOP_AT_EPOCH``."""
        if int(os.environ.get("HDC_FAULT_STOP_AT_EPOCH", "0")) == epoch:
            raise KeyboardInterrupt
