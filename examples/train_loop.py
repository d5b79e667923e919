"""HDC's loss in your own training loop, on real video files: a tiny benchmark, hdc_video's dataset
and augmentation, the HDC module, a plain PyTorch optimizer. Runs on a laptop CPU in about a minute.

    python examples/train_loop.py [--steps 20] [--out /tmp/hdc-example]
"""

import argparse
import tempfile
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from hdc_video import (
    HDC,
    ClipAugment,
    MethodConfig,
    PretrainDataset,
    TwoCropSampler,
    build_backbone,
    generate_benchmark,
    make_decoder,
    open_index,
)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--out", type=Path, default=None, help="where the tiny benchmark goes (default: a temp dir)")
    a = ap.parse_args(argv)
    root = a.out or Path(tempfile.mkdtemp(prefix="hdc-example-"))
    if not (root / "splits").is_dir():  # 3 digits x 4 motions x 6 videos, in the UCF101 layout
        generate_benchmark(
            root, digits=3, motions=4, videos_per_class=6, frames=24, size=48, nuisance="scene", progress=False
        )

    # data: two temporal crops per video, two augmented views of each -> [V=4, 3, T, S, S] per video
    dataset = PretrainDataset(
        open_index(root, subset="train"),
        make_decoder("pyav"),
        TwoCropSampler(clip_len=8, stride=2),
        ClipAugment(size=32, scale=(0.2, 1.0), brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2, grayscale=0.5),
    )
    keys = [(i, 1000 + i) for i in range(len(dataset))]  # (video, sample seed): every sample reproducible
    loader = DataLoader(
        keys,
        batch_size=8,
        shuffle=True,
        drop_last=True,
        collate_fn=lambda ks: torch.stack([dataset[k]["video"] for k in ks]),
    )

    # the method: a backbone with stage taps, HDC's heads and HD-NCE over its last three levels
    torch.manual_seed(0)
    model = HDC(build_backbone("r3d_18", width=0.125), MethodConfig(head_hidden=64, head_dim=32), clip_len=8)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    step = 0
    while step < a.steps:
        for views in loader:  # [B, 4, 3, T, S, S]
            loss, logs = model(views)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step % 5 == 0 or step == 1:
                levels = ", ".join(f"{k} {float(v):.2f}" for k, v in logs.items() if k.endswith(("sc_loss", "tc_loss")))
                print(f"step {step}: HD-NCE {loss.item():.3f} ({levels})")
            if step == a.steps:
                break
    return loss.item()


if __name__ == "__main__":
    main()
