"""``hdc demo``: benchmark → HDC pretraining → linear probes of HDC vs random init, one table.

Everything lands under one folder: ``bench/`` (the generated videos), ``hdc/`` (the run:
checkpoint, metrics, TensorBoard), ``results.json`` and ``results.md``. Re-running resumes: an
existing benchmark is reused and an unfinished pretraining run continues from its checkpoint.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from hdc_video.config import build_config
from hdc_video.data.synth import generate_benchmark
from hdc_video.eval.features import load_backbone
from hdc_video.eval.probe import probe_labels, split_features
from hdc_video.train.checkpoint import load_checkpoint
from hdc_video.train.pretrain import pretrain

log = logging.getLogger("hdc_video")

BENCH = dict(digits=10, motions=6, videos_per_class=8, frames=32, size=64, seed=0)
PROBES = [("appearance", "appearance"), ("motion", "motion"), ("action", None)]
NUM_CLIPS = 4


def _bench(out: Path) -> Path:
    bench = out / "bench"
    meta = bench / "meta.json"
    if meta.exists() and all(json.loads(meta.read_text()).get(k) == v for k, v in BENCH.items()):
        log.info("reusing the benchmark in %s", bench)
        return bench
    return generate_benchmark(bench, workers=2, overwrite=True, **BENCH)


def _pretrain(bench: Path, run: Path, config: str, steps: int | None) -> None:
    overrides = [f"train.steps={steps}"] if steps is not None else []
    ckpt = run / "checkpoint.pt"
    if ckpt.exists():
        state = load_checkpoint(ckpt)
        target = steps if steps is not None else build_config([config]).train.steps
        if state["step"] >= target:
            log.info("reusing the finished pretraining run in %s", run)
            return
        pretrain(bench, run, [config], overrides, resume=True)
        return
    pretrain(bench, run, [config], overrides)


def _probe_all(net, bench: Path, cfg, tag: str) -> dict[str, dict]:
    d = cfg.data
    train, ftr, test, fte = split_features(net, bench, 1, d.clip_len, d.stride, d.size, NUM_CLIPS,
                                           workers=d.workers, tag=tag)
    out = {}
    for name, column in PROBES:
        out[name] = probe_labels(train, ftr, test, fte, bench / "attributes.csv" if column else None, column)
    return out


def format_table(results: dict[str, dict[str, dict]]) -> str:
    models = list(results)
    head = f"| linear probe (top-1, video / clip) | chance | " + " | ".join(models) + " |"
    lines = [head, "|" + "---|" * (2 + len(models))]
    for name, _ in PROBES:
        first = results[models[0]][name]
        cells = [f"{results[m][name]['top1_video']:.3f} / {results[m][name]['top1_clip']:.3f}" for m in models]
        lines.append(f"| {name} ({first['classes']} classes) | {first['chance']:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_demo(out: Path, steps: int | None = None, config: str = "demo", overwrite: bool = False) -> dict:
    out = Path(out)
    if overwrite and out.exists():
        if not ((out / "bench" / "meta.json").exists() or (out / "results.json").exists()):
            raise ValueError(f"{out} does not look like a demo folder; refusing to delete it (choose another --out)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    times = {}
    bench = _bench(out)
    times["benchmark_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    _pretrain(bench, out / "hdc", config, steps)
    times["pretrain_s"] = time.perf_counter() - t
    t = time.perf_counter()
    hdc_net, cfg = load_backbone(out / "hdc" / "checkpoint.pt")
    rand_net, _ = load_backbone(out / "hdc" / "checkpoint.pt", random_init=True, seed=cfg.train.seed)
    results = {"random init": _probe_all(rand_net, bench, cfg, "random: "),
               "HDC": _probe_all(hdc_net, bench, cfg, "HDC: ")}
    times["probes_s"] = time.perf_counter() - t
    times["total_s"] = time.perf_counter() - t0
    table = format_table(results)
    d = cfg.data
    protocol = (f"split 1 of the built-in benchmark ({BENCH['digits']} digits x {BENCH['motions']} motions, "
                f"{BENCH['videos_per_class']} videos/class); backbone {cfg.model.backbone} width {cfg.model.width}; "
                f"{NUM_CLIPS} clips x 1 centre crop, {d.clip_len} frames stride {d.stride}, {d.size}px; "
                f"last-stage features, logistic regression")
    summary = {"results": results, "times": times, "protocol": protocol, "table": table}
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    (out / "results.md").write_text(f"# hdc demo\n\n{protocol}\n\n{table}\n\nwall time: {times['total_s']:.0f} s\n")
    print()
    print(table)
    print(f"\n{protocol}")
    print(f"wall time {times['total_s']:.0f} s (benchmark {times['benchmark_s']:.0f} s, pretraining "
          f"{times['pretrain_s']:.0f} s, probes {times['probes_s']:.0f} s); everything is in {out}")
    return summary
