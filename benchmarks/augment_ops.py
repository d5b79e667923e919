"""Device operations per augmented batch: the GPU path's kernel launches, counted without a GPU.

    .venv/bin/python benchmarks/augment_ops.py [--batch 32] [--views 4] [--clip-len 16] [--size 112]

``views_to_device`` (the GPU path: uint8 crops in, augmented float views out) runs on the ``meta``
device -- shapes only, no data -- under a dispatch mode that counts every aten operation on a
device tensor, views excluded: on a GPU each is at least one kernel launch. Two crop kernels are compared on the
same draw: one antialiased interpolate per view (``kernel="float"``, the old device path) and the
whole batch as two matrix products (``kernel="batched"``, the default). The rest of the pipeline
(colour map and normalisation, blur) is the same in both. Prints ops per batch and the ratio.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

#: operations that only make a view of a tensor (no kernel runs)
VIEWS = {
    "select",
    "slice",
    "permute",
    "view",
    "unsqueeze",
    "squeeze",
    "expand",
    "as_strided",
    "t",
    "transpose",
    "detach",
    "alias",
    "_unsafe_view",
    "unflatten",
    "split",
    "unbind",
    "diagonal",
    "narrow",
    "lift_fresh",
}


class DeviceOps(TorchDispatchMode):
    def __init__(self, device: str):
        super().__init__()
        self.device, self.ops = device, Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        res = out if isinstance(out, (tuple, list)) else (out,)
        name = func.overloadpacket.__name__
        if name not in VIEWS and any(isinstance(t, torch.Tensor) and t.device.type == self.device for t in res):
            self.ops[name] += 1
        return out


def main(argv=None) -> int:
    ap = C.parser(__doc__)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--clip-len", type=int, default=16)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--raw", default="128x171", help="the workers' raw frame size HxW")
    a = ap.parse_args(argv)
    from hdc_video.data.transforms import functional
    from hdc_video.data.transforms.augment import ClipAugment
    from hdc_video.data.transforms.device import views_to_device

    b, v = (2, 4) if a.smoke else (a.batch, a.views)
    h, w = (int(x) for x in a.raw.split("x"))
    aug = ClipAugment(a.size, jitter=0.8, grayscale=0.5, blur=0.5)
    p = aug.draw(b * v, h, w, torch.Generator().manual_seed(0))
    video = {"raw": torch.empty((b, 2, a.clip_len, h, w, 3), dtype=torch.uint8, device="meta")}
    video.update({k: t.view(b, v, *t.shape[1:]) for k, t in vars(p).items()})
    counts = {}
    original = functional.resized_crop
    for kernel in ("float", "batched"):
        functional.resized_crop = lambda *args, _k=kernel, **kw: original(*args, **{**kw, "kernel": _k})
        import hdc_video.data.transforms.augment as augment_module

        augment_module.resized_crop = functional.resized_crop
        with DeviceOps("meta") as probe:
            out = views_to_device(video, aug, "meta")
        counts[kernel] = probe.ops
        assert out.shape == (b, v, 3, a.clip_len, a.size, a.size)
    functional.resized_crop = augment_module.resized_crop = original
    before, after = sum(counts["float"].values()), sum(counts["batched"].values())
    print(f"batch {b} x {v} views of {a.clip_len}x{a.size}^2 from {h}x{w} raw frames (jitter, grayscale, blur on)")
    print("| crop kernel | device ops (kernel launches) per batch | top ops |\n|---|---:|---|")
    for name, c in counts.items():
        top = ", ".join(f"{k} {n}" for k, n in c.most_common(4))
        print(f"| {name} | {sum(c.values())} | {top} |")
    print(f"\nbatched / per-view: {after / before:.3f} ({before} -> {after} ops)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
