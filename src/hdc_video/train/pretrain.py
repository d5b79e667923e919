"""``hdc pretrain``: the training loop around :class:`~hdc_video.models.hdc.HDC`.

Resuming continues *exactly*: the checkpoint holds model (incl. the α/β EMA state), optimizer,
scheduler, RNG, step and the data position (epoch, batch); every sample's randomness is derived
from (seed, epoch, position), so the resumed run sees the same batches as an uninterrupted one.

Distributed (``torchrun --nproc_per_node N -m hdc_video pretrain …``): ``train.batch_size`` is the
global batch, each rank loads its contiguous slice of it, the model is wrapped in DDP and HDC
gathers the embeddings of all ranks (:func:`hdc_video.dist.gather_with_grad`), so every rank computes
the global loss and the α/β measurement of the global batch. Only rank 0 writes config.yaml,
metrics.jsonl, TensorBoard and checkpoints and shows the progress bar. A checkpoint holds the
unwrapped model and a global data position, so a run may resume under another number of processes
(BatchNorm in train mode normalises with per-process batch statistics, which then change; on CUDA
``train.sync_bn=true`` makes them global). ``--out`` must be on a filesystem every node sees.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from tqdm.auto import tqdm

from hdc_video import dist
from hdc_video.checkpoint import load_checkpoint, rng_state, set_rng_state
from hdc_video.config import RESUMABLE, Config, build_config, changed_keys, validate_distributed
from hdc_video.data.decoders import make_decoder
from hdc_video.data.indexes import open_index
from hdc_video.data.loading import resolve_workers
from hdc_video.data.loading.pretrain import PretrainDataset, RawViewsDataset, make_pretrain_loader
from hdc_video.data.sampling.clips import TwoCropSampler
from hdc_video.data.transforms.augment import ClipAugment
from hdc_video.data.transforms.device import parse_raw_size, views_to_device
from hdc_video.models.hdc import HDC
from hdc_video.models.registry import build_backbone
from hdc_video.train.guard import MAX_BAD_GRADS, NonFiniteGuard, TrainingError
from hdc_video.train.metrics import MetricsLogger, NullMetrics, scalars
from hdc_video.train.monitor import KnnMonitor
from hdc_video.train.optim import build_optimizer, build_scheduler, load_optimizer_state, restore_scheduler
from hdc_video.train.run_info import start_facts
from hdc_video.train.runner import Runner, enter_run, open_run, refuse_changes
from hdc_video.train.runtime import autocast, choose_precision, prepare_backbone, use_channels_last

log = logging.getLogger("hdc_video")
CHECKPOINT_FORMAT = "hdc-video/1"
__all__ = ["MAX_BAD_GRADS", "Pretrainer", "TrainingError", "build_model", "build_pretrain_data", "pretrain"]


@dataclass
class Position:
    step: int = 0
    epoch: int = 0
    batch: int = 0  # batches already consumed in `epoch`


def build_model(cfg: Config) -> HDC:
    backbone = build_backbone(cfg.model.backbone, width=cfg.model.width)
    return HDC(backbone, cfg.method, views_per_crop=cfg.data.views_per_crop, clip_len=cfg.data.clip_len)


def build_pretrain_data(cfg: Config, data_root: str | Path) -> PretrainDataset:
    d = cfg.data
    index = open_index(data_root, format=d.format, split=d.split, subset="train")
    augment = ClipAugment(
        d.size,
        scale=tuple(d.scale),
        flip=d.flip,
        jitter=d.jitter,
        brightness=d.brightness,
        contrast=d.contrast,
        saturation=d.saturation,
        hue=d.hue,
        grayscale=d.grayscale,
        blur=d.blur,
        blur_sigma=tuple(d.blur_sigma),
    )
    return PretrainDataset(
        index,
        make_decoder(d.decoder, d.decoder_threads),
        TwoCropSampler(d.clip_len, d.stride),
        augment,
        views_per_crop=d.views_per_crop,
        short_video=d.short_video,
        min_frames=d.min_frames,
    )


class Pretrainer(Runner):
    """``self.model`` is the plain :class:`HDC` (its state is what checkpoints hold); ``self.net`` is
    what the loop calls: ``self.model`` itself, or its DDP wrapper when running distributed."""

    def __init__(
        self,
        cfg: Config,
        data_root: str | Path,
        out: str | Path,
        resume_state: dict | None = None,
        progress: bool = True,
    ):
        t = cfg.train
        torch.manual_seed(t.seed)
        super().__init__(t.device, out)
        self.cfg, self.progress = cfg, progress
        self.data_root = Path(data_root)
        validate_distributed(cfg, self.world, self.device.type)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed clip shapes: let cuDNN pick its fastest kernels
        self.dataset = build_pretrain_data(cfg, data_root)
        # GPU path: workers decode uint8 crops; augmentation runs batched on the device (same draw as on the CPU)
        self.augment_on_device = cfg.data.augment_on == "device" or (
            cfg.data.augment_on == "auto" and self.device.type == "cuda"
        )
        if self.augment_on_device:
            self.dataset = RawViewsDataset(self.dataset, raw_size=parse_raw_size(cfg.data.raw_size))
        if len(self.dataset.index) < t.batch_size:
            raise TrainingError(
                f"{data_root}: {len(self.dataset.index)} training videos, fewer than train.batch_size={t.batch_size}"
            )
        self.model = build_model(cfg).to(self.device)
        self.dtype, precision = choose_precision(
            t.precision, self.device, self.model.backbone, cfg.data.clip_len, cfg.data.size, t.channels_last
        )
        self.runtime = prepare_backbone(
            self.model.backbone, self.device, self.dtype, use_channels_last(t.channels_last, self.device)
        )
        self.model.backbone_channels_last = self.runtime["channels_last"]
        if t.compile:  # in place: the state-dict keys (and so checkpoints) stay those of the plain model
            self.model.backbone.compile()
        self.optimizer = build_optimizer(self.model, t)
        self.scheduler = build_scheduler(self.optimizer, t)
        self.pos = Position()
        if resume_state is not None:
            self._load_state(resume_state)
        self.net = self._wrap(self.model)
        self.loader = make_pretrain_loader(
            self.dataset,
            t.batch_size,
            t.seed,
            resolve_workers(cfg.data.workers, self.world),
            epoch=self.pos.epoch,
            start_batch=self.pos.batch,
            pin_memory=self.device.type == "cuda",
            max_fail_frac=cfg.data.max_fail_frac,
            rank=self.rank,
            world_size=self.world,
        )
        self.metrics = MetricsLogger(self.out, resume_step=self.pos.step) if self.main else NullMetrics()
        self.last_good: Path | None = self.ckpt_path if resume_state is not None else None
        self.guard = NonFiniteGuard(self.device, step_offset=self.pos.step)
        self.monitor = (
            KnnMonitor(data_root, cfg, self.device, self.dtype, self.runtime["channels_last"])
            if t.monitor_every and self.main
            else None
        )
        if self.monitor is not None and resume_state is not None:
            self.monitor.step0 = dict(resume_state.get("monitor_step0", {}))
        self.facts = start_facts(
            device=self.device,
            dtype=self.dtype,
            runtime=self.runtime,
            compile=t.compile,
            precision_note=precision,
            world_size=self.world,
            index=self.dataset.index,
            config=cfg.to_dict(),
        )

    def _wrap(self, model: HDC) -> torch.nn.Module:
        """DDP around ``model`` when distributed, with SyncBatchNorm first (``train.sync_bn``; by
        default on under CUDA). Without it each rank normalises with its own videos' statistics
        while the negatives come from every rank: the local-BN leak SimCLR describes."""
        sync = self.cfg.train.sync_bn if self.cfg.train.sync_bn is not None else self.device.type == "cuda"
        if self.world > 1 and not sync and self.main:
            log.warning(
                "BatchNorm statistics are per process (%s): each rank normalises its own %d videos while "
                "the negatives come from all %d ranks, which lets BatchNorm leak batch identity; %s",
                "train.sync_bn=false" if self.cfg.train.sync_bn is False else "no SyncBatchNorm on a CPU",
                self.cfg.train.batch_size // self.world,
                self.world,
                "set train.sync_bn=true"
                if self.device.type == "cuda"
                else "prefer one process with the whole batch on a CPU",
            )
        return self.wrap(model, sync_bn=sync, find_unused=model.has_unused_parameters)

    # --- checkpoints --------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.cfg.to_dict(),
            "data_root": str(self.data_root),
            "step": self.pos.step,
            "epoch": self.pos.epoch,
            "batch": self.pos.batch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng_state(),
            "stage_channels": list(self.model.backbone.stage_channels),
            "monitor_step0": dict(self.monitor.step0) if self.monitor is not None else {},
        }

    def _load_state(self, st: dict) -> None:
        self.model.load_state_dict(st["model"])
        load_optimizer_state(self.optimizer, st["optimizer"])
        restore_scheduler(self.scheduler, st["scheduler"])
        set_rng_state(st["rng"])
        self.pos = Position(st["step"], st["epoch"], st["batch"])

    def save(self) -> Path:
        """Rank 0 writes the checkpoint; every rank waits until it is on disk."""
        self.last_good = super().save(self.state())
        return self.last_good

    # --- loop ---------------------------------------------------------------------------------
    def _batches(self):
        """Endless batches from the current position; a new epoch reseeds the sampler."""
        while True:
            self.loader.sampler.set_epoch(self.pos.epoch)
            self.loader.sampler.set_start(self.pos.batch)
            yield from self.loader
            self.pos.epoch, self.pos.batch = self.pos.epoch + 1, 0

    def run(self) -> dict:
        t = self.cfg.train
        self.net.train()
        bar = tqdm(
            total=t.steps,
            initial=self.pos.step,
            disable=not (self.progress and self.main),
            desc="pretrain",
            unit="step",
            dynamic_ncols=True,
        )
        first_loss = last_loss = None
        tick, logged_at = time.perf_counter(), self.pos.step
        started, start_step, clips_per_step = tick, self.pos.step, None
        self.announce(self.facts, "pretraining")
        knn: dict[str, float] = {}
        if self.monitor is not None and not self.monitor.step0:  # the baseline: the network at step 0
            knn = self.monitor.step0 = self.monitor.measure(self.model.backbone)
            self.metrics.log(self.pos.step, self.monitor.row(knn))
        try:
            batches = self._batches()
            while self.pos.step < t.steps:
                batch = next(batches)
                video = (
                    views_to_device(batch["video"], self.dataset.clip_augment, self.device)
                    if self.augment_on_device
                    else batch["video"].to(self.device, non_blocking=True)
                )
                overlap, ids = batch.get("overlap"), batch.get("index")
                lr = self.optimizer.param_groups[0]["lr"]  # the lr this step uses
                # the invariance measures the weights do not follow: only on log steps (they are logged)
                self.model.measure_all = (self.pos.step + 1) % t.log_every == 0 or self.pos.step + 1 == t.steps
                loss, grad_norm, logs = self.step(
                    video,
                    None if overlap is None else overlap.to(self.device, non_blocking=True),
                    None if ids is None else ids.to(self.device, non_blocking=True),
                )
                clips_per_step = video.shape[0] * video.shape[1] * self.world
                self.scheduler.step()
                self.pos.step += 1
                self.pos.batch += 1
                if self.monitor is not None and (self.pos.step % t.monitor_every == 0 or self.pos.step == t.steps):
                    knn = self.monitor.measure(self.model.backbone)
                    self.monitor.check(knn, self.pos.step)
                    self.metrics.log(self.pos.step, self.monitor.row(knn))
                    bar.set_postfix_str(f"knn {self.monitor.text(knn)}", refresh=False)
                if self.pos.step % t.log_every == 0 or self.pos.step == t.steps:
                    self.guard.check(self._where)  # the step's only host reads are here
                    now = time.perf_counter()
                    n_clips = clips_per_step * (self.pos.step - logged_at)
                    logged_at = self.pos.step
                    row = {
                        "loss": float(loss.detach()),
                        "lr": lr,
                        "grad_norm": float(grad_norm),
                        "epoch": self.pos.epoch,
                        "clips_per_s": n_clips / max(now - tick, 1e-9),
                        **scalars(logs),
                    }
                    tick = now
                    self.metrics.log(self.pos.step, row)
                    last_loss = row["loss"]
                    first_loss = last_loss if first_loss is None else first_loss
                    bar.set_postfix_str(
                        f"loss {row['loss']:.3f}, {row['clips_per_s']:.0f} clips/s"
                        + (f", knn {self.monitor.text(knn)}" if knn else "")
                    )
                bar.update(1)
                if self.pos.step % t.ckpt_every == 0 or self.pos.step == t.steps:
                    self.guard.check(self._where)  # never save after a non-finite loss
                    self.save()
                self.fault_after_step(self.pos.step)
        finally:
            bar.close()
            self.metrics.close()
        self.loader.skips.end_epoch(self.pos.epoch)  # the summary of a partial last epoch
        wall = time.perf_counter() - started
        end = {
            "steps": self.pos.step,
            "steps_this_run": self.pos.step - start_step,
            "wall_s": round(wall, 2),
            "clips_per_s": round((clips_per_step or 0) * (self.pos.step - start_step) / max(wall, 1e-9), 2),
            "skipped_updates": self.guard.total_skipped,
            "skipped_videos": len(self.loader.skips.failed),
            "first_loss": first_loss,
            "last_loss": last_loss,
        }
        self.finish(self.facts, end, "pretraining")
        return {
            "steps": self.pos.step,
            "first_loss": first_loss,
            "last_loss": last_loss,
            "checkpoint": str(self.ckpt_path),
            "skipped_videos": dict(self.loader.skips.failed),
            "skipped_updates": self.guard.total_skipped,
            "wall_s": end["wall_s"],
        }

    def step(
        self, video: torch.Tensor, overlap: torch.Tensor | None = None, ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """One update: forward, backward, gradient clipping and the guarded optimizer step, with no
        host sync (tested): a non-finite loss or gradient skips the update on the device and is
        reported at the next :meth:`NonFiniteGuard.check`. Returns device tensors."""
        t = self.cfg.train
        with autocast(self.device, self.dtype):
            loss, logs = self.net(video, overlap, ids)  # the global batch's loss, the same on every rank
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(
            self.model.parameters(), t.clip_grad if t.clip_grad > 0 else float("inf")
        )
        self.guard.step(self.optimizer, loss, grad_norm)
        self.model.momentum_update()  # the key encoder follows (method.momentum; a no-op without)
        return loss, grad_norm, logs

    def _where(self) -> str:
        if self.last_good is None:
            return "no checkpoint was written yet"
        return f"last good checkpoint: {self.last_good} (step {self._ckpt_step()})"

    def _ckpt_step(self) -> int | str:
        try:
            return load_checkpoint(self.last_good)["step"]
        except Exception:  # noqa: BLE001
            return "?"


def pretrain(
    data_root: str | Path,
    out: str | Path,
    config_files: list[str] | None = None,
    overrides: list[str] | None = None,
    resume: bool | str = False,
    progress: bool = True,
) -> dict:
    """Build the config, prepare the run folder and train. Returns a summary dict.

    ``resume``: False (``out`` must not hold a run), True (it must), or ``"auto"`` (resume when
    ``out`` holds a checkpoint, start fresh otherwise: what a requeued cluster job wants).
    Under ``torchrun`` every rank runs this; all of them read the checkpoint to resume from, only
    rank 0 writes into ``out``."""
    out = Path(out)
    state = open_run(out, resume, CHECKPOINT_FORMAT, "pretraining")
    if state is not None:
        cfg = build_config(config_files, overrides, base=state["config"])
        refuse_changes(changed_keys(state["config"], cfg.to_dict()), RESUMABLE)
        if Path(state.get("data_root", data_root)).resolve() != Path(data_root).resolve():
            raise TrainingError(f"{out}: this run was trained on {state['data_root']}, not {data_root}")
    else:
        cfg = build_config(config_files, overrides)
    enter_run(cfg.train.device, out)
    if dist.is_main():
        (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    trainer = Pretrainer(cfg, data_root, out, resume_state=state, progress=progress)
    if state is not None:
        log.info(
            "resuming %s from step %d (epoch %d, batch %d)", out, trainer.pos.step, trainer.pos.epoch, trainer.pos.batch
        )
    summary = trainer.run()
    if summary["last_loss"] is not None and not math.isfinite(summary["last_loss"]):
        raise TrainingError("training ended with a non-finite loss")
    return summary
