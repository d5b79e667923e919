"""Fine-tuning protocol: the whole network trained on the labelled training split.

The backbone comes from a pretraining checkpoint (or is a random init of the same architecture);
the new head is global average pooling of the last stage -> Dropout -> Linear. Training draws one
random temporal clip per video per epoch (:class:`~hdc_video.data.supervised.TrainClipDataset`,
driven by :class:`~hdc_video.data.dataset.EpochSampler`, so batches do not depend on the number of
workers), with linear warm-up + cosine decay per step (``train/optim.py``). Every epoch is
validated on the test split with a few centre clips and checkpointed atomically
(``OUT/checkpoint.pt``: model, optimizer, scheduler, epoch, RNG, options), so ``--resume``
continues exactly. The final test scores ``num_clips`` uniformly spaced clips x 1 centre crop or
3 crops (left/centre/right along the long side); the video prediction averages the softmax over
all clips x crops (:func:`average_video_predictions`).

Outputs (docs/ARCHITECTURE.md, "Evaluation outputs"): ``metrics.json``, ``predictions.csv``,
``history.jsonl`` (one row per epoch), plus ``metrics.jsonl`` / ``tb/`` (per-step training log)
and ``log.txt``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from hdc_video.config import ConfigError, TrainConfig, build_config
from hdc_video.data.dataset import EpochSampler, EvalClipDataset, _worker_init, collate_skip_none
from hdc_video.data.decoders import make_decoder
from hdc_video.data.errors import DataError
from hdc_video.data.index import VideoIndex, read_labels_csv, relabel
from hdc_video.data.indexes import open_index
from hdc_video.data.supervised import TrainClipDataset, finetune_augment
from hdc_video.eval.features import clip_settings, load_backbone
from hdc_video.models.registry import build_backbone
from hdc_video.train.checkpoint import CheckpointError, load_checkpoint, rng_state, save_atomic, set_rng_state
from hdc_video.train.metrics import MetricsLogger
from hdc_video.train.optim import build_optimizer, build_scheduler
from hdc_video.train.guard import NonFiniteGuard, TrainingError
from hdc_video.train.runtime import autocast, resolve_device, resolve_precision, use_channels_last

log = logging.getLogger("hdc_video")
FORMAT = "hdc-video-finetune/1"

# Options of a fine-tuning run (None = from the checkpoint / not given).
DEFAULTS: dict = dict(checkpoint=None, data=None, random_init=False, backbone=None, width=None, split=1,
                      labels=None, label_column=None, epochs=10, batch_size=16, lr=0.01, optimizer="sgd",
                      momentum=0.9, weight_decay=1e-4, warmup_epochs=1.0, dropout=0.5, num_clips=10, crops=1,
                      val_clips=2, clip_len=None, stride=None, size=None, workers=2, device="auto",
                      precision="auto", seed=0)
# Options a resumed run may change (the rest would break exact resumption).
RESUMABLE = {"epochs", "num_clips", "crops", "val_clips", "workers", "device"}
PATHS = ("checkpoint", "data", "labels")


class FinetuneNet(nn.Module):
    """``backbone`` -> global average pool of the last stage -> Dropout -> Linear."""

    def __init__(self, backbone: nn.Module, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(backbone.stage_channels[-1], num_classes)
        self.channels_last = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return self.fc(self.dropout(self.backbone(x)[-1].float().mean((2, 3, 4))))


def average_video_predictions(clip_logits, labels, k: int = 5) -> tuple[dict[str, float], np.ndarray]:
    """``clip_logits [V, N, K]`` (N = clips x crops of each video), ``labels [V]`` ->
    (``top1_clip``, ``top5_clip`` -- every clip x crop scored alone -- and ``top1_video``,
    ``top5_video`` from the softmax averaged over a video's N views; top-5 is top-min(5, K)),
    and the video probabilities ``[V, K]``."""
    logits = torch.as_tensor(np.asarray(clip_logits), dtype=torch.float64)
    if logits.dim() != 3:
        raise ValueError(f"clip_logits must be [videos, clips, classes], got {tuple(logits.shape)}")
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    v, n, num_classes = logits.shape
    kk = min(k, num_classes)
    probs = logits.softmax(-1)
    video = probs.mean(1)

    def topk(scores: torch.Tensor, target: torch.Tensor, j: int) -> float:
        hit = (scores.topk(j, dim=-1).indices == target[:, None]).any(-1)
        return float(hit.double().mean()) if len(hit) else 0.0

    clip_y = y.repeat_interleave(n)
    metrics = {"top1_clip": topk(probs.reshape(v * n, -1), clip_y, 1),
               "top5_clip": topk(probs.reshape(v * n, -1), clip_y, kk),
               "top1_video": topk(video, y, 1), "top5_video": topk(video, y, kk)}
    return metrics, video.numpy()


def _loader_generator(seed: int) -> torch.Generator:
    # A private generator keeps DataLoader iterators from consuming the global RNG (dropout's).
    return torch.Generator().manual_seed(seed)


@torch.no_grad()
def predict_clips(model: nn.Module, index: VideoIndex, clip_len: int, stride: int, size: int, num_clips: int,
                  crops: int, batch_size: int, workers: int, device: torch.device, dtype: torch.dtype | None,
                  progress: bool = True, desc: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Logits of every clip x crop of every video: ``float32 [V, num_clips * crops, K]`` and a
    ``keep`` mask (False for videos that failed to decode; their rows are zero)."""
    ds = EvalClipDataset(index, make_decoder("auto"), clip_len, stride, num_clips, size, crops=crops)
    views = num_clips * crops
    videos_per_batch = max(1, (2 * batch_size) // views)   # about 2 x batch_size clips per forward
    loader = DataLoader(ds, batch_size=videos_per_batch, shuffle=False, num_workers=workers,
                        collate_fn=collate_skip_none, generator=_loader_generator(0),
                        worker_init_fn=_worker_init if workers > 0 else None)
    was_training, out, keep = model.training, None, np.zeros(len(index), dtype=bool)
    model.eval()
    for batch in tqdm(loader, desc=desc, unit="batch", disable=not progress, dynamic_ncols=True, leave=False):
        if batch is None:
            continue
        video, idx = batch["video"].to(device, non_blocking=True), batch["index"].numpy()
        with autocast(device, dtype):
            logits = model(video.flatten(0, 1)).float()
        logits = logits.view(len(idx), views, -1).cpu().numpy()
        if out is None:
            out = np.zeros((len(index), views, logits.shape[-1]), dtype=np.float32)
        out[idx] = logits
        keep[idx] = True
    model.train(was_training)
    if out is None:
        raise DataError(f"{index.root}: no test video could be decoded")
    if (~keep).any():
        log.warning("%d of %d videos could not be decoded and are left out of the evaluation",
                    int((~keep).sum()), len(index))
    return out, keep


def read_history(path: Path) -> list[dict]:
    """Rows of ``history.jsonl``; a torn line (a kill mid-write) is dropped: resuming rewrites it."""
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass
    return rows


def resolve_options(given: dict, out: Path, resume: bool) -> tuple[dict, dict | None]:
    """Options = defaults (or the resumed run's) <- the given ones; refuses what cannot change."""
    given = {k: (str(v) if k in PATHS else v) for k, v in given.items() if v is not None}
    ckpt = out / "checkpoint.pt"
    if not resume:
        if ckpt.exists():
            raise TrainingError(f"{out} already holds a fine-tuning run (checkpoint.pt); pass --resume to "
                                f"continue it or choose another --out")
        opts = {**DEFAULTS, **given}
        _validate(opts)
        return opts, None
    state = load_checkpoint(ckpt)
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{ckpt}: not an hdc-video fine-tuning checkpoint")
    saved = state["args"]

    def same(k: str) -> bool:
        a, b = saved.get(k), given[k]
        if k in PATHS and a is not None:
            return Path(a).resolve() == Path(b).resolve()
        return a == b or (isinstance(a, float) and isinstance(b, (int, float)) and float(b) == a)

    frozen = [k for k in given if k not in RESUMABLE and not same(k)]
    if frozen:
        raise ConfigError(f"cannot change {', '.join('--' + k.replace('_', '-') for k in frozen)} when resuming "
                          f"(only {', '.join('--' + k.replace('_', '-') for k in sorted(RESUMABLE))} may change)")
    opts = {**saved, **given}
    _validate(opts)
    return opts, state


def _validate(o: dict) -> None:
    if o["data"] is None:
        raise ConfigError("--data is required")
    if bool(o["labels"]) != bool(o["label_column"]):
        raise ConfigError("--labels and --label-column go together")
    if o["epochs"] < 1 or o["batch_size"] < 1 or o["num_clips"] < 1 or o["val_clips"] < 0 or o["workers"] < 0:
        raise ConfigError("need --epochs, --batch-size, --num-clips >= 1 and --val-clips, --workers >= 0")
    if o["lr"] <= 0 or not 0 <= o["dropout"] < 1 or o["warmup_epochs"] < 0 or o["weight_decay"] < 0:
        raise ConfigError("need --lr > 0, 0 <= --dropout < 1, --warmup-epochs >= 0, --weight-decay >= 0")
    if o["crops"] not in (1, 3) or o["optimizer"] not in ("sgd", "adamw") \
            or o["precision"] not in ("auto", "bf16", "fp32"):
        raise ConfigError("--crops is 1 or 3, --optimizer sgd or adamw, --precision auto, bf16 or fp32")


def load_split(o: dict) -> tuple[VideoIndex, VideoIndex]:
    """Train and test index of the split, relabelled with ``--labels`` / ``--label-column``."""
    train = open_index(o["data"], split=o["split"], subset="train")
    test = open_index(o["data"], split=o["split"], subset="test")
    if o["labels"]:
        mapping = read_labels_csv(o["labels"], o["label_column"])
        train, test = relabel(train, mapping), relabel(test, mapping)  # classes: the whole mapping's
    return train, test


def build_network(o: dict, state: dict | None, num_classes: int) -> tuple[FinetuneNet, dict]:
    """The network and the backbone's config (a fresh run resolves backbone/width/clip settings into ``o``)."""
    if state is not None:
        cfg = build_config(base=state["config"])
        net = build_backbone(cfg.model.backbone, width=cfg.model.width)
    else:
        net, cfg = load_backbone(o["checkpoint"], random_init=o["random_init"], backbone=o["backbone"],
                                 width=o["width"], seed=o["seed"])
        if o["checkpoint"] is not None and (o["backbone"] not in (None, cfg.model.backbone)
                                            or o["width"] not in (None, cfg.model.width)):
            raise CheckpointError(f"{o['checkpoint']}: holds {cfg.model.backbone} width {cfg.model.width}, not the "
                                  f"requested {o['backbone'] or cfg.model.backbone} width {o['width'] or cfg.model.width}")
        o["backbone"], o["width"] = cfg.model.backbone, cfg.model.width
        o["clip_len"], o["stride"], o["size"] = clip_settings(cfg, o["clip_len"], o["stride"], o["size"])
    model = FinetuneNet(net, num_classes, o["dropout"])
    if state is not None:
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as e:
            raise CheckpointError(f"fine-tuning checkpoint does not fit its network ({str(e).splitlines()[0]})") from None
    return model, cfg.to_dict()


class Finetuner:
    """One fine-tuning run in ``out`` (fresh, or resumed from ``state``)."""

    def __init__(self, o: dict, out: Path, state: dict | None = None, progress: bool = True):
        self.o, self.out, self.progress = o, Path(out), progress
        torch.manual_seed(o["seed"])
        self.train_index, self.test_index = load_split(o)
        self.classes = list(self.train_index.classes)
        if state is not None and list(state["classes"]) != self.classes:
            raise CheckpointError(f"{self.ckpt_path}: was trained on other classes than {o['data']} now lists")
        self.model, self.backbone_cfg = build_network(o, state, len(self.classes))
        self.device = resolve_device(o["device"])
        self.dtype = resolve_precision(o["precision"], self.device, training=True)
        self.eval_dtype = resolve_precision(o["precision"], self.device, training=False)
        self.model.to(self.device)
        if use_channels_last("auto", self.device):
            self.model.backbone.to(memory_format=torch.channels_last_3d)
            self.model.channels_last = True
        ds = TrainClipDataset(self.train_index, make_decoder("auto"), o["clip_len"], o["stride"], finetune_augment(o["size"]))
        self.dataset = ds
        self.sampler = EpochSampler(len(ds), o["batch_size"], seed=o["seed"])
        w = o["workers"]
        self.loader = DataLoader(ds, batch_size=o["batch_size"], sampler=self.sampler, drop_last=True, num_workers=w,
                                 persistent_workers=w > 0, pin_memory=self.device.type == "cuda",
                                 worker_init_fn=_worker_init if w > 0 else None,
                                 generator=_loader_generator(o["seed"]))
        bpe = self.sampler.batches_per_epoch
        self.tcfg = TrainConfig(steps=o["epochs"] * bpe, batch_size=o["batch_size"], optimizer=o["optimizer"],
                                lr=o["lr"], momentum=o["momentum"], weight_decay=o["weight_decay"],
                                warmup_steps=int(round(o["warmup_epochs"] * bpe)), seed=o["seed"])
        self.optimizer = build_optimizer(self.model, self.tcfg)
        self.scheduler = build_scheduler(self.optimizer, self.tcfg)
        self.epoch = self.step = 0
        self.history_path = self.out / "history.jsonl"
        history: list[dict] = []
        if state is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.epoch, self.step = int(state["epoch"]), int(state["step"])
            history = [r for r in read_history(self.history_path) if r.get("epoch", 0) <= self.epoch]
        self.history_path.write_text("".join(json.dumps(r) + "\n" for r in history))
        self.metrics = MetricsLogger(self.out, resume_step=self.step)
        self.guard = NonFiniteGuard(self.device, step_offset=self.step)
        if state is not None:
            set_rng_state(state["rng"])          # last: nothing above may consume the restored RNG

    @property
    def ckpt_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def save(self) -> Path:
        return save_atomic({"format": FORMAT, "config": self.backbone_cfg, "args": dict(self.o),
                            "classes": self.classes, "epoch": self.epoch, "step": self.step,
                            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                            "scheduler": self.scheduler.state_dict(), "rng": rng_state(),
                            "stage_channels": list(self.model.backbone.stage_channels)}, self.ckpt_path)

    def train_epoch(self) -> dict:
        o, dev = self.o, self.device
        self.model.train()
        self.sampler.set_epoch(self.epoch)
        loss_sum, correct, seen = 0.0, 0, 0
        start = tick = time.perf_counter()
        bar = tqdm(self.loader, desc=f"epoch {self.epoch + 1}/{o['epochs']}", unit="batch",
                   disable=not self.progress, dynamic_ncols=True)
        for batch in bar:
            x, y = batch["video"].to(dev, non_blocking=True), batch["label"].to(dev, non_blocking=True)
            with autocast(dev, self.dtype):
                logits = self.model(x)
            loss = F.cross_entropy(logits.float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), float("inf"))
            self.guard.step(self.optimizer, loss, grad_norm)  # skips a non-finite update on the device
            self.guard.check(lambda: f"last good checkpoint: {self.ckpt_path}" if self.ckpt_path.exists()
                             else "no checkpoint yet")  # this loop logs (reads) every step anyway
            self.scheduler.step()
            self.step += 1
            n = len(y)
            loss_sum += float(loss.detach()) * n
            correct += int((logits.detach().argmax(-1) == y).sum())
            seen += n
            now = time.perf_counter()
            self.metrics.log(self.step, {"loss": float(loss.detach()), "lr": self.scheduler.get_last_lr()[0],
                                         "grad_norm": float(grad_norm), "epoch": self.epoch + 1,
                                         "clips_per_s": n / max(now - tick, 1e-9)})
            tick = now
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.2f}")
        bar.close()
        self.epoch += 1
        return {"epoch": self.epoch, "step": self.step, "train_loss": loss_sum / max(seen, 1),
                "train_acc": correct / max(seen, 1), "lr": self.scheduler.get_last_lr()[0],
                "time_s": round(time.perf_counter() - start, 3)}

    def evaluate(self, num_clips: int, crops: int, desc: str) -> tuple[dict, np.ndarray, np.ndarray]:
        o = self.o
        logits, keep = predict_clips(self.model, self.test_index, o["clip_len"], o["stride"], o["size"], num_clips,
                                     crops, o["batch_size"], o["workers"], self.device, self.eval_dtype,
                                     self.progress, desc)
        metrics, probs = average_video_predictions(logits[keep], self.test_index.labels[keep])
        return metrics, probs, keep

    def run(self) -> dict:
        o = self.o
        stop_at = int(os.environ.get("HDC_FAULT_STOP_AT_EPOCH", "0"))  # fault injection for the resume test
        try:
            while self.epoch < o["epochs"]:
                row = self.train_epoch()
                if o["val_clips"] > 0:
                    m, _, _ = self.evaluate(o["val_clips"], 1, "validate")
                    row.update(val_top1=m["top1_video"], val_top1_clip=m["top1_clip"])
                with self.history_path.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                self.save()
                log.info("epoch %d/%d: train loss %.4f acc %.3f%s", self.epoch, o["epochs"], row["train_loss"],
                         row["train_acc"], f", val top-1 {row['val_top1']:.3f}" if "val_top1" in row else "")
                if stop_at and self.epoch == stop_at:
                    raise KeyboardInterrupt
        finally:
            self.metrics.close()
        return self.test()

    def test(self) -> dict:
        o = self.o
        metrics, probs, keep = self.evaluate(o["num_clips"], o["crops"], "test")
        kept = [e for e, k in zip(self.test_index, keep) if k]
        with (self.out / "predictions.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "label", "pred"])
            for e, p in zip(kept, probs.argmax(-1)):
                w.writerow([e.rel, self.classes[e.label], self.classes[int(p)]])
        crop = "1 centre crop" if o["crops"] == 1 else "3 crops (left/centre/right of the long side)"
        init = "random init" if o["random_init"] else "pretrained"
        out = {
            "kind": "finetune",
            "protocol": f"fine-tuning, split {o['split']}, whole network ({init}) + global pool -> dropout "
                        f"{o['dropout']} -> linear, {o['epochs']} epochs, {o['optimizer']} lr {o['lr']} batch "
                        f"{o['batch_size']} warm-up + cosine, 1 random augmented clip per video per epoch; test "
                        f"{o['num_clips']} clips x {crop}, {o['clip_len']} frames stride {o['stride']}, "
                        f"{o['size']}px, last stage, softmax averaged over clips x crops",
            "checkpoint": o["checkpoint"], "random_init": bool(o["random_init"]), "backbone": o["backbone"],
            "width": o["width"], "data_root": o["data"], **metrics,
            "label": o["label_column"] or "action", "classes": len(self.classes),
            "chance": 1.0 / len(self.classes), "split": o["split"], "epochs": self.epoch,
            "train_videos": len(self.train_index), "test_videos": int(keep.sum()),
            "skipped_test_videos": int((~keep).sum()), "clips_per_video": o["num_clips"], "crops": o["crops"],
        }
        (self.out / "metrics.json").write_text(json.dumps(out, indent=1))
        return out


def run_finetune(a, progress: bool = True) -> dict:
    """``hdc finetune`` from an argparse namespace (attributes named like :data:`DEFAULTS`)."""
    out = Path(a.out)
    opts, state = resolve_options({k: getattr(a, k, None) for k in DEFAULTS}, out, bool(a.resume))
    out.mkdir(parents=True, exist_ok=True)
    trainer = Finetuner(opts, out, state, progress=progress)
    if state is not None:
        log.info("resuming %s after epoch %d of %d", out, trainer.epoch, opts["epochs"])
    return trainer.run()
