"""torch.hub entry points: the project's backbones, optionally with pretrained weights.

    model = torch.hub.load("path/to/hdc-video", "r3d_18", source="local", checkpoint="r3d18.pt")

``checkpoint``: an ``hdc export`` file, a pretraining checkpoint or a run folder (nothing is
downloaded: there are no published weights yet). Without it, a randomly initialised backbone of
``width`` (channel multiplier). Every model maps ``[B, 3, T, H, W]`` to its list of stage outputs.
"""

import sys
from pathlib import Path

_src = Path(__file__).resolve().parent / "src"
if _src.is_dir() and str(_src) not in sys.path:  # a checkout used without `pip install`
    sys.path.insert(0, str(_src))

dependencies = ["torch", "torchvision"]


def _entry(name):
    def load(checkpoint=None, width=1.0, **kw):
        from hdc_video.models.registry import build_backbone
        from hdc_video.models.weights import load_backbone

        if checkpoint is not None:
            net = load_backbone(checkpoint)
            if net.name != name:
                raise ValueError(f"{checkpoint} holds a {net.name}, not a {name}")
            return net
        return build_backbone(name, width=width, **kw)

    load.__name__ = name
    load.__doc__ = f"HDC-video {name} backbone: `checkpoint` (export/checkpoint/run folder) or random init at `width`."
    return load


r3d_18 = _entry("r3d_18")
r3d_10 = _entry("r3d_10")
r2plus1d_18 = _entry("r2plus1d_18")
r2plus1d_10 = _entry("r2plus1d_10")
c3d = _entry("c3d")
s3d = _entry("s3d")
