"""Fine-tuning protocol: the whole network trained on the labelled training split.

The backbone comes from a pretraining checkpoint (or is a random init of the same architecture);
the new head is global average pooling of the last stage -> Dropout -> Linear. Training draws one
random temporal clip per video per epoch (:class:`~hdc_video.data.loading.finetune.TrainClipDataset`,
driven by :class:`~hdc_video.data.sampling.videos.EpochSampler`, so batches do not depend on the number of
workers), with linear warm-up + cosine decay per step (``train/optim.py``). Every epoch is
validated on the test split with a few centre clips and checkpointed atomically
(``OUT/checkpoint.pt``: model, optimizer, scheduler, epoch, RNG, options), so ``--resume``
continues exactly. The final test scores ``num_clips`` uniformly spaced clips x 1 centre crop or
3 crops (left/centre/right along the long side); the video prediction averages the softmax over
all clips x crops (:func:`average_video_predictions`).

Outputs (docs/ARCHITECTURE.md, "Evaluation outputs"): ``metrics.json``, ``predictions.csv``,
``history.jsonl`` (one row per epoch), plus ``metrics.jsonl`` / ``tb/`` (per-step training log)
and ``log.txt``.

Dropout draws its mask from a generator keyed by ``(seed, step)`` for the whole (global) batch
(:class:`GlobalBatchDropout`), so it is part of the run's determinism like the data order.

Distributed (``torchrun --nproc_per_node N -m hdc_video finetune …``; checked by
``tests/test_finetune_distributed.py``): the process group is joined (NCCL on CUDA, Gloo on CPU,
:mod:`hdc_video.train.distributed`), ``--batch-size`` stays the *global* batch (it must be
divisible by N) and rank r trains on the r-th contiguous slice of every global batch
(:class:`~hdc_video.data.sampling.videos.EpochSampler`), so the global batches, their augmentations and the
dropout masks are those of one process. The model is wrapped in DistributedDataParallel, whose
gradient average over equal local batches is the gradient of the global mean loss; the logged loss
and accuracy are global. BatchNorm normalises with per-rank batch statistics in training (so only
with BatchNorm in eval mode, or none, is an update exactly the single-process one); DDP keeps
rank 0's running statistics, which every evaluation first broadcasts to all ranks, so what is
evaluated is what the checkpoint holds. Evaluation deals the single-process batches of test videos
round-robin to the ranks and sums the (zero elsewhere) clip logits over the ranks: every rank ends
with the full ``[videos, views, classes]`` array in index order, bit-identical to one process's.
Only rank 0 writes (checkpoint, history, metrics, predictions) and shows progress bars; the others
wait at a barrier after a checkpoint. The checkpoint holds the unwrapped model, so a run resumes
under any number of processes that divides ``--batch-size``.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from hdc_video import dist
from hdc_video.checkpoint import CheckpointError, rng_state, set_rng_state
from hdc_video.config import FinetuneConfig, TrainConfig
from hdc_video.data.decoders import make_decoder
from hdc_video.data.loading.finetune import TrainClipDataset, finetune_augment
from hdc_video.data.loading.pretrain import worker_init as _worker_init
from hdc_video.data.sampling.videos import EpochSampler
from hdc_video.eval.finetune.predict import average_video_predictions, loader_generator, predict_clips
from hdc_video.eval.finetune.setup import FORMAT, build_network, check_world, load_split
from hdc_video.train.guard import NonFiniteGuard
from hdc_video.train.metrics import MetricsLogger, NullMetrics
from hdc_video.train.optim import build_optimizer, build_scheduler, load_optimizer_state, restore_scheduler
from hdc_video.train.run_info import start_facts
from hdc_video.train.runner import Runner
from hdc_video.train.runtime import (
    autocast,
    choose_precision,
    prepare_backbone,
    resolve_device,
    resolve_precision,
    use_channels_last,
)

log = logging.getLogger("hdc_video")

__all__ = ["Finetuner", "read_history"]


def read_history(path: Path) -> list[dict]:
    """Rows of ``history.jsonl``; a torn line (a kill mid-write) is dropped: resuming rewrites it."""
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass
    return rows


class Finetuner(Runner):
    """One fine-tuning run in ``out`` (fresh, or resumed from ``state``).

    ``self.model`` is the plain :class:`FinetuneNet` (what checkpoints hold and what evaluates);
    ``self.net`` is what the training step calls: ``self.model``, or its DDP wrapper under torchrun."""

    def __init__(self, o: FinetuneConfig, out: Path, state: dict | None = None, progress: bool = True):
        super().__init__(o.device, out)
        self.o, self.progress = o, progress
        check_world(o, self.world, resolve_device(o.device))
        torch.manual_seed(o.seed)
        self.train_index, self.test_index = load_split(o)
        self.classes = list(self.train_index.classes)
        if state is not None and list(state["classes"]) != self.classes:
            raise CheckpointError(f"{self.ckpt_path}: was trained on other classes than {o.data} now lists")
        self.model, self.backbone_cfg = build_network(o, state, len(self.classes))
        self.model.dropout.shard(self.rank, self.world)
        self.model.to(self.device)
        self.dtype, precision = choose_precision(o.precision, self.device, self.model.backbone, o.clip_len, o.size)
        self.eval_dtype = resolve_precision(o.precision, self.device, training=False)
        self.runtime = prepare_backbone(
            self.model.backbone, self.device, self.dtype, use_channels_last("auto", self.device)
        )
        self.model.channels_last = self.runtime["channels_last"]
        ds = TrainClipDataset(self.train_index, make_decoder("auto"), o.clip_len, o.stride, finetune_augment(o.size))
        self.dataset = ds
        self.sampler = EpochSampler(len(ds), o.batch_size, seed=o.seed, rank=self.rank, world_size=self.world)
        w = o.workers
        self.loader = DataLoader(
            ds,
            batch_size=self.sampler.local_batch,
            sampler=self.sampler,
            drop_last=True,
            num_workers=w,
            persistent_workers=w > 0,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=_worker_init if w > 0 else None,
            generator=loader_generator(o.seed),
        )
        bpe = self.sampler.batches_per_epoch
        self.tcfg = TrainConfig(
            steps=o.epochs * bpe,
            batch_size=o.batch_size,
            optimizer=o.optimizer,
            lr=o.lr,
            momentum=o.momentum,
            weight_decay=o.weight_decay,
            warmup_steps=int(round(o.warmup_epochs * bpe)),
            seed=o.seed,
        )
        self.optimizer = build_optimizer(self.model, self.tcfg)
        self.scheduler = build_scheduler(self.optimizer, self.tcfg)
        self.epoch = self.step = 0
        self.history_path = self.out / "history.jsonl"
        history: list[dict] = []
        if state is not None:
            load_optimizer_state(self.optimizer, state["optimizer"])
            restore_scheduler(self.scheduler, state["scheduler"])
            self.epoch, self.step = int(state["epoch"]), int(state["step"])
            history = [r for r in read_history(self.history_path) if r.get("epoch", 0) <= self.epoch]
        if self.main:
            self.history_path.write_text("".join(json.dumps(r) + "\n" for r in history))
        self.metrics = MetricsLogger(self.out, resume_step=self.step) if self.main else NullMetrics()
        self.net = self.wrap(self.model)  # DDP broadcasts rank 0's weights and buffers now
        self.guard = NonFiniteGuard(self.device, step_offset=self.step)
        self.facts = start_facts(
            device=self.device,
            dtype=self.dtype,
            runtime=self.runtime,
            compile=False,
            precision_note=precision,
            world_size=self.world,
            index=self.train_index,
            config=self.o.to_dict(),
        )
        if state is not None:
            set_rng_state(state["rng"])  # last: nothing above may consume the restored RNG

    def _sync_buffers(self) -> None:
        """Rank 0's buffers (BatchNorm running statistics) on every rank: in training each rank's last
        forward updated its own; rank 0's are the ones DDP keeps and the checkpoint holds."""
        if self.world > 1:
            for b in self.model.buffers():
                torch.distributed.broadcast(b, src=0)

    def save(self) -> Path:
        """Rank 0 writes the checkpoint (the unwrapped model); every rank waits until it is on disk."""
        return super().save(
            {
                "format": FORMAT,
                "config": self.backbone_cfg,
                "args": self.o.to_dict(),
                "classes": self.classes,
                "epoch": self.epoch,
                "step": self.step,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "rng": rng_state(),
                "stage_channels": list(self.model.backbone.stage_channels),
            }
        )

    def train_epoch(self) -> dict:
        o, dev = self.o, self.device
        self.net.train()
        self.sampler.set_epoch(self.epoch)
        loss_sum, correct, seen = 0.0, 0, 0
        lr = self.optimizer.param_groups[0]["lr"]
        start = tick = time.perf_counter()
        bar = tqdm(
            self.loader,
            desc=f"epoch {self.epoch + 1}/{o.epochs}",
            unit="batch",
            disable=not (self.progress and self.main),
            dynamic_ncols=True,
        )
        for batch in bar:
            x, y = batch["video"].to(dev, non_blocking=True), batch["label"].to(dev, non_blocking=True)
            self.model.dropout.set_key(o.seed, self.step)  # the global batch's mask, whatever the ranks
            with autocast(dev, self.dtype):
                logits = self.net(x)
            loss = F.cross_entropy(logits.float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # DDP: the gradient averaged over the ranks = that of the global loss
            # the global batch's mean loss (equal local batches) and hits: the same on every rank, so the
            # guard skips (or stops) on all of them alike
            stats = dist.all_reduce_sum(torch.stack([loss.detach(), (logits.detach().argmax(-1) == y).sum().float()]))
            glob_loss = stats[0] / self.world
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), float("inf"))
            lr = self.optimizer.param_groups[0]["lr"]  # the lr this step used
            self.guard.step(self.optimizer, glob_loss, grad_norm)  # skips a non-finite update on the device
            self.guard.check(
                lambda: f"last good checkpoint: {self.ckpt_path}" if self.ckpt_path.exists() else "no checkpoint yet"
            )  # this loop logs (reads) every step anyway
            self.scheduler.step()
            self.step += 1
            n = len(y) * self.world
            loss_sum += float(glob_loss) * n
            correct += int(stats[1])
            seen += n
            now = time.perf_counter()
            self.metrics.log(
                self.step,
                {
                    "loss": float(glob_loss),
                    "lr": lr,
                    "grad_norm": float(grad_norm),
                    "epoch": self.epoch + 1,
                    "clips_per_s": n / max(now - tick, 1e-9),
                },
            )
            tick = now
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.2f}")
        bar.close()
        self.epoch += 1
        return {
            "epoch": self.epoch,
            "step": self.step,
            "train_loss": loss_sum / max(seen, 1),
            "train_acc": correct / max(seen, 1),
            "lr": lr,
            "time_s": round(time.perf_counter() - start, 3),
        }

    def evaluate(self, num_clips: int, crops: int, desc: str) -> tuple[dict, np.ndarray, np.ndarray]:
        """Metrics, video probabilities and ``keep`` mask of the test split (the same on every rank)."""
        o = self.o
        self._sync_buffers()
        logits, keep = predict_clips(
            self.model,
            self.test_index,
            o.clip_len,
            o.stride,
            o.size,
            num_clips,
            crops,
            o.batch_size,
            o.workers,
            self.device,
            self.eval_dtype,
            self.progress and self.main,
            desc,
        )
        metrics, probs = average_video_predictions(logits[keep], self.test_index.labels[keep])
        return metrics, probs, keep

    def run(self) -> dict:
        o = self.o
        started, start_step = time.perf_counter(), self.step
        self.announce(self.facts, "fine-tuning")
        try:
            while self.epoch < o.epochs:
                row = self.train_epoch()
                if o.val_clips > 0:
                    m, _, _ = self.evaluate(o.val_clips, 1, "validate")
                    row.update(val_top1=m["top1_video"], val_top1_clip=m["top1_clip"])
                if self.main:
                    with self.history_path.open("a") as f:
                        f.write(json.dumps(row) + "\n")
                self.save()
                log.info(
                    "epoch %d/%d: train loss %.4f acc %.3f%s",
                    self.epoch,
                    o.epochs,
                    row["train_loss"],
                    row["train_acc"],
                    f", val top-1 {row['val_top1']:.3f}" if "val_top1" in row else "",
                )
                self.fault_after_epoch(self.epoch)
        finally:
            self.metrics.close()
        wall = time.perf_counter() - started
        steps = self.step - start_step
        end = {
            "steps": self.step,
            "steps_this_run": steps,
            "wall_s": round(wall, 2),
            "clips_per_s": round(steps * self.o.batch_size / max(wall, 1e-9), 2),
            "skipped_updates": self.guard.total_skipped,
            "skipped_videos": 0,
        }
        self.finish(self.facts, end, "fine-tuning")
        return self.test()

    def test(self) -> dict:
        """The final test; every rank returns the metrics, rank 0 writes them."""
        o = self.o
        metrics, probs, keep = self.evaluate(o.num_clips, o.crops, "test")
        kept = [e for e, k in zip(self.test_index, keep) if k]
        if self.main:
            with (self.out / "predictions.csv").open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["path", "label", "pred"])
                for e, p in zip(kept, probs.argmax(-1)):
                    w.writerow([e.rel, self.classes[e.label], self.classes[int(p)]])
        crop = "1 centre crop" if o.crops == 1 else "3 crops (left/centre/right of the long side)"
        init = "random init" if o.random_init else "pretrained"
        out = {
            "kind": "finetune",
            "protocol": f"fine-tuning, split {o.split}, whole network ({init}) + global pool -> dropout "
            f"{o.dropout} -> linear, {o.epochs} epochs, {o.optimizer} lr {o.lr} batch "
            f"{o.batch_size} warm-up + cosine, 1 random augmented clip per video per epoch; test "
            f"{o.num_clips} clips x {crop}, {o.clip_len} frames stride {o.stride}, "
            f"{o.size}px, last stage, softmax averaged over clips x crops",
            "checkpoint": o.checkpoint,
            "random_init": bool(o.random_init),
            "backbone": o.backbone,
            "width": o.width,
            "data_root": o.data,
            **metrics,
            "label": o.label_column or "action",
            "classes": len(self.classes),
            "chance": 1.0 / len(self.classes),
            "split": o.split,
            "epochs": self.epoch,
            "train_videos": len(self.train_index),
            "test_videos": int(keep.sum()),
            "skipped_test_videos": int((~keep).sum()),
            "clips_per_video": o.num_clips,
            "crops": o.crops,
        }
        if self.main:
            (self.out / "metrics.json").write_text(json.dumps(out, indent=1))
        dist.barrier()
        return out
