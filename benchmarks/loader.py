"""Pretraining loader throughput: the project's pipeline against its decode floor and a naive peer.

    .venv/bin/python benchmarks/loader.py [--workers 2] [--sets builtin ucf] [--smoke]

Pipelines, each a DataLoader with the same workers, batch size, EpochSampler items (video, seed):

* project  -- ``build_pretrain_data`` + ``make_pretrain_loader``: decode both temporal crops in one
  call, batched ClipAugment of all V views in the worker, float32 [V, 3, T, S, S] to the main process;
* gpu-path workers -- ``RawViewsDataset`` around the same dataset: decode + resize to the raw size
  + the parameter draw, uint8 crops to the main process (the augmentation then runs on the device;
  on this CPU it is not run at all -- this row is what the workers can feed a GPU);
* decode floor -- PyAV decoding exactly the frames the sampler chose (same decoder, same seeds),
  nothing else: no augmentation, a 1-element tensor back;
* naive peer -- as in published video-SSL repos: decode the whole video to PIL images, pick the
  clips' frames, then per frame torchvision RandomResizedCrop, flip, ColorJitter (p=0.8),
  RandomGrayscale, ToTensor, Normalize, reseeding before each frame so a clip shares one draw.

A sample = one video's two temporal crops and V views (views/s = samples/s x V). Each round builds
fresh loaders, discards the first W+1 batches (worker start, first ``info`` calls) and times the
next ``--batches``; the reported rate is the median over rounds, pipelines interleaved per round.
``--decoder-threads`` (``data.decoder_threads``, default 1; 0 = FFmpeg's automatic count, up to one
thread per core in every worker) applies to every pipeline's PyAV decoder.
``--clock cpu`` (for a shared machine): no workers, one thread, samples per CPU-second of this
process -- the pipelines' work, immune to other processes' load, without the worker IPC.
Data sets: ``builtin`` (``generate_benchmark``: 64x64, 32 frames; demo config 8x64^2), ``ucf``
(320x240 MPEG-4 AVIs of 100 frames like UCF101; paper config 16x112^2) and ``ucf128`` (the same
videos after ``hdc prepare``: short side 128, GOP 8). Targets: project >= 0.85 x floor and >= 3 x
naive.
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import av  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

SETS = {  # name -> (bundled config, overrides)
    "builtin": ("demo", []),
    "ucf": ("hdc", ["data.format=folder"]),
    "ucf128": ("hdc", ["data.format=folder"]),  # the ucf set after `hdc prepare` (short side 128, GOP 8)
}
SEED_MASK = (1 << 63) - 1


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)


class FloorDataset(Dataset):
    """Decode exactly the frames ``base`` would decode for ``(i, seed)``; return nothing of them."""

    def __init__(self, base):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key):
        i, seed = key
        b = self.base
        path = b.index[int(i)].path
        n = b.info(path).num_frames  # cached per worker, as PretrainDataset does
        idx1, idx2 = b.sampler.sample(n, np.random.default_rng(int(seed) & SEED_MASK))
        frames = b.decoder.decode(path, np.unique(np.concatenate([idx1, idx2])))
        return torch.tensor([frames.shape[0]])


class NaiveDataset(Dataset):
    """The peer pipeline: whole video -> PIL frames -> per-frame torchvision transforms."""

    def __init__(self, base, cfg):
        from torchvision import transforms as T

        from hdc_video.data.transforms.functional import MEAN, STD

        d = cfg.data
        self.base, self.views = base, 2 + d.views_per_crop
        self.transform = T.Compose(
            [
                T.RandomResizedCrop(d.size, scale=tuple(d.scale), antialias=True),
                T.RandomHorizontalFlip(d.flip),
                T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=d.jitter),
                T.RandomGrayscale(d.grayscale),
                T.ToTensor(),
                T.Normalize(MEAN, STD),
            ]
        )

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key):
        i, seed = key
        path = self.base.index[int(i)].path
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            stream.thread_type = "AUTO"
            images = [f.to_image() for f in c.decode(stream)]
        rng = np.random.default_rng(int(seed) & SEED_MASK)
        idx1, idx2 = self.base.sampler.sample(len(images), rng)
        crops = [idx1, idx1, idx2, idx2][: self.views]
        views = []
        for v, idx in enumerate(crops):
            clip_seed = ((int(seed) * 8) + v) & SEED_MASK  # one seed per view
            frames = []
            for j in idx:
                random.seed(clip_seed)  # the same draw for every frame of the clip
                torch.manual_seed(clip_seed)
                frames.append(self.transform(images[int(j)]))
            views.append(torch.stack(frames, dim=1))  # [3, T, S, S]
        return {"video": torch.stack(views), "index": int(i)}


def _loader(kind: str, base, cfg, batch: int, workers: int, seed: int):
    from hdc_video.data.loading.pretrain import RawViewsDataset, make_pretrain_loader
    from hdc_video.data.sampling.videos import EpochSampler

    if kind == "project":
        return make_pretrain_loader(base, batch, seed, workers)
    if kind == "gpu-path workers":
        return make_pretrain_loader(RawViewsDataset(base), batch, seed, workers)
    ds = FloorDataset(base) if kind == "decode floor" else NaiveDataset(base, cfg)
    return DataLoader(
        ds,
        batch_size=batch,
        sampler=EpochSampler(len(ds), batch, seed=seed),
        drop_last=True,
        num_workers=workers,
        worker_init_fn=_one_thread if workers else None,
    )


def _rate(loader, warm: int, batches: int, batch: int, now) -> float:
    it = iter(loader)
    for _ in range(warm):
        next(it)
    t = now()
    for _ in range(batches):
        next(it)
    dt = now() - t
    del it
    return batches * batch / dt


def measure_set(name: str, root: Path, a) -> list[tuple]:
    from hdc_video.config import build_config
    from hdc_video.train.pretrain import build_pretrain_data

    config, extra = SETS[name]
    over = (
        extra
        + [f"data.workers={a.workers}", f"train.batch_size={a.batch_size}", f"data.decoder_threads={a.decoder_threads}"]
        + C.tiny_overrides(a.smoke)
    )
    cfg = build_config([config], over)
    base = build_pretrain_data(cfg, root)
    warm = a.workers + 1
    C.repeat_index(base, (warm + a.batches + 4 * max(a.workers, 1)) * a.batch_size)
    kinds = ["project", "gpu-path workers", "decode floor", "naive peer"]
    rates: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(a.rounds):
        for kind in kinds:
            loader = _loader(kind, base, cfg, a.batch_size, a.workers, seed=r)
            rates[kind].append(_rate(loader, warm, a.batches, a.batch_size, C.clock(a.clock)))
            del loader
    med = {k: float(np.median(v)) for k, v in rates.items()}
    d = cfg.data
    shape = f"{d.clip_len}x{d.size}^2 x{2 + d.views_per_crop} views"
    rows = []
    for kind in kinds:
        rows.append(
            (
                f"{name} {shape}: {kind}",
                med[kind],
                med[kind] * (2 + d.views_per_crop),
                med[kind] / med["decode floor"],
                med[kind] / med["naive peer"],
            )
        )
    return rows


def main(argv=None) -> int:
    ap = C.parser(__doc__)
    ap.add_argument("--workers", type=int, default=2, help="loader worker processes (every pipeline)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument(
        "--decoder-threads",
        type=int,
        default=1,
        help="FFmpeg threads per decoder (data.decoder_threads; 0 = FFmpeg's automatic count)",
    )
    ap.add_argument("--batches", type=int, default=6, help="timed batches per pipeline and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    ap.add_argument(
        "--data", type=Path, default=None, help="where to generate the data sets (default: a temporary folder)"
    )
    a = ap.parse_args(argv)
    if a.smoke:
        a.workers, a.batch_size, a.batches, a.rounds = min(a.workers, 1), 2, 1, 1
    if a.clock == "cpu":  # CPU time is only this process's: do the work here, one thread like a worker
        a.workers, a.threads = 0, 1
    C.setup_threads(a.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = a.data or Path(tmp)
        for name in a.sets:
            if name == "builtin":
                root = C.builtin_set(data / "builtin", smoke=a.smoke)
            else:
                n, frames = (4, 24) if a.smoke else (8, 100)
                size = (48, 64) if a.smoke else (240, 320)
                root = C.ucf_like_set(data / "ucf_like", videos=n, frames=frames, size=size)
                if name == "ucf128":
                    from hdc_video.workflows.prepare import prepare

                    if not (data / "ucf_like128").is_dir():
                        prepare(
                            root,
                            data / "ucf_like128",
                            short_side=32 if a.smoke else 128,
                            gop=8,
                            workers=1,
                            progress=False,
                        )
                    root = data / "ucf_like128"
            rows += measure_set(name, root, a)
    ok = lambda row: "yes" if row[3] >= 0.85 and row[4] >= 3 else "no"  # noqa: E731
    how = (
        f"{a.workers} workers"
        if a.clock == "wall"
        else "per CPU-second of one process (workers=0, 1 thread; x W workers on W free cores)"
    )
    C.table(
        f"loader throughput, {how}, batch {a.batch_size}, median of {a.rounds} rounds x {a.batches} batches",
        ["pipeline", "samples/s", "views/s", "x floor", "x naive", "targets met"],
        [r + ((ok(r),) if r[0].endswith("project") else ("",)) for r in rows],
        notes=["targets: project >= 0.85 x decode floor and >= 3 x naive peer", C.machine_line()],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
