"""Does this CPU's bf16 arithmetic agree with fp32 as well as correct bf16 rounding would?

A bf16 kernel can be *silently* wrong: oneDNN's bf16 conv3d weight gradient once read uninitialised
memory for inputs two frames deep (``benchmarks/bf16_conv3d_repro.py``) -- NaN when that memory held
NaN, finite garbage (per-parameter cosine 0.63 with fp32) when it held numbers. A NaN check sees
only the first. This check compares every layer against the error that bf16 *must* have, so
rounding noise is not called a bug and a wrong kernel cannot pass as noise.

:func:`check_bf16` runs one fp32 forward and backward of random clips through a model, capturing
every ``nn.Conv3d`` and ``nn.Linear`` layer's input and output gradient. Then, per layer and on
exactly those tensors, it computes the forward output, the input gradient and the weight gradient
three ways:

* **fp32** -- the reference;
* **kernel** -- bf16 tensors through the layer's own forward (as autocast runs it: the layer's
  memory layout, the CPU time-padding workaround where the model has it), **twice**, with the
  allocator's recycled memory filled with NaN before the first call and with a large finite value
  before the second;
* **emulated** -- correct bf16: fp32 arithmetic on bf16-rounded input, weight and output gradient,
  each result rounded to bf16.

A layer fails when a kernel result is non-finite, differs between the two calls (it read memory it
never wrote), or its relative error to fp32 exceeds ``ratio`` x the emulated error + ``slack``.
``train.precision=auto`` runs it at start-up before choosing bf16 on a CPU
(:func:`hdc_video.train.runtime.resolve_precision`); ``benchmarks/bf16_agreement.py`` prints the
table for every backbone; ``tests/test_bf16_check.py`` runs it on both oneDNN kernel paths.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LayerAgreement", "Bf16Report", "check_bf16"]

#: a kernel's relative error may be this many times correct bf16's (plus SLACK) before it is a bug
RATIO, SLACK = 3.0, 2e-3
QUANTITIES = ("out", "grad_in", "grad_w")


@dataclass
class LayerAgreement:
    name: str
    shape: str  # the layer's input shape and kind
    kernel: dict[str, float] = field(default_factory=dict)  # relative error to fp32 per quantity
    emulated: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Bf16Report:
    layers: list[LayerAgreement]

    @property
    def ok(self) -> bool:
        return all(layer.ok for layer in self.layers)

    @property
    def failures(self) -> list[LayerAgreement]:
        return [layer for layer in self.layers if not layer.ok]

    def summary(self) -> str:
        """One line: how many layers agree, or the first failure."""
        if self.ok:
            worst = max(
                (lay.kernel[q] / max(lay.emulated[q], 1e-12), lay.name, q) for lay in self.layers for q in QUANTITIES
            )
            return (
                f"bf16 agrees with fp32 like correct rounding in all {len(self.layers)} layers "
                f"(worst: {worst[2]} of {worst[1]}, {worst[0]:.2f} x the rounding error)"
            )
        bad = self.failures[0]
        return (
            f"bf16 disagrees with fp32 in {len(self.failures)} of {len(self.layers)} layers; first: {bad.name} "
            f"({bad.shape}): {'; '.join(bad.problems)}"
        )


def _rel(a: Tensor, ref: Tensor) -> float:
    return float((a.float() - ref).norm() / ref.norm().clamp(min=1e-30))


def _round(x: Tensor) -> Tensor:
    return x.to(torch.bfloat16).float()


def _poison(value: float) -> None:
    """Fill recycled heap memory with ``value`` (allocate and free two buffers, 4 and 16 MiB)."""
    for mib in (4, 16):
        t = torch.full((mib * 2**18,), value)
        del t


def _call(layer: nn.Module, x: Tensor, w: Tensor, b: Tensor | None, g: Tensor):
    """The layer's forward on ``x`` with parameters ``w``, ``b`` and its gradients for ``g``:
    ``(out, grad_in, grad_w)``."""
    x = x.detach().requires_grad_()
    w = w.detach().requires_grad_()
    if isinstance(layer, nn.Conv3d):
        y = layer._conv_forward(x, w, b)  # TimePaddedConv3d keeps its own padding rule
    else:
        y = F.linear(x, w, b)
    gx, gw = torch.autograd.grad(y, (x, w), g.to(y.dtype).contiguous(memory_format=_layout(y)))
    return y.detach(), gx, gw


def _layout(t: Tensor) -> torch.memory_format:
    return (
        torch.channels_last_3d
        if t.dim() == 5 and t.is_contiguous(memory_format=torch.channels_last_3d) and not t.is_contiguous()
        else torch.contiguous_format
    )


def _check_layer(name: str, layer: nn.Module, x: Tensor, g: Tensor, ratio: float, slack: float) -> LayerAgreement:
    w, b = layer.weight.detach().float(), None if layer.bias is None else layer.bias.detach().float()
    ref = _call(layer, x, w, b, g)
    emu = [_round(t) for t in _call(layer, _round(x), _round(w), None if b is None else _round(b), _round(g))]
    kind = "conv3d" if isinstance(layer, nn.Conv3d) else "linear"
    fmt = _layout(x)
    xb = x.to(torch.bfloat16).contiguous(memory_format=fmt)
    wb = w.to(torch.bfloat16).contiguous(memory_format=_layout(layer.weight))
    bb = None if b is None else b.to(torch.bfloat16)
    runs = []
    for value in (float("nan"), 1e4):
        _poison(value)
        runs.append(_call(layer, xb, wb, bb, g.to(torch.bfloat16)))
    rep = LayerAgreement(name, f"{kind} {tuple(x.shape)}")
    for q, r, e, k1, k2 in zip(QUANTITIES, ref, emu, *runs):
        rep.emulated[q], rep.kernel[q] = _rel(e, r), _rel(k1, r)
        if not (torch.isfinite(k1).all() and torch.isfinite(k2).all()):
            rep.problems.append(f"{q}: non-finite values")
        elif not torch.equal(k1, k2):
            rep.problems.append(f"{q}: differs between two identical calls (reads memory it never wrote)")
        elif rep.kernel[q] > ratio * rep.emulated[q] + slack:
            rep.problems.append(f"{q}: relative error {rep.kernel[q]:.4f} vs {rep.emulated[q]:.4f} for correct bf16")
    return rep


def check_bf16(model: nn.Module, inputs: Tensor, ratio: float = RATIO, slack: float = SLACK) -> Bf16Report:
    """Compare every ``nn.Conv3d`` / ``nn.Linear`` of ``model`` in bf16 against fp32 and against
    emulated correct bf16 (module docstring), on the tensors one fp32 forward/backward of ``inputs``
    gives each layer. ``model(inputs)`` may return a tensor or a list of tensors (stage outputs);
    the backward pass gives every output a random gradient. It runs on a copy: ``model`` (its batch
    norm statistics included) is not touched."""
    model = copy.deepcopy(model).float()
    for m in model.modules():  # an in-place activation would rewrite a captured output
        if getattr(m, "inplace", False):
            m.inplace = False
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv3d, nn.Linear))]
    seen: dict[str, list[Tensor]] = {}

    def capture(name):
        def hook(mod, args, out):
            seen[name] = [args[0].detach()]
            out.register_hook(lambda g: seen[name].append(g.detach()))

        return hook

    for name, m in layers:
        m.register_forward_hook(capture(name))
    gen = torch.Generator().manual_seed(0)
    with torch.enable_grad():
        outs = model(inputs)
        outs = [outs] if isinstance(outs, Tensor) else list(outs)
        loss = sum((o.float() * torch.randn(o.shape, generator=gen)).sum() / o.numel() ** 0.5 for o in outs)
        loss.backward()
    report = [_check_layer(name, m, *seen[name], ratio, slack) for name, m in layers if len(seen.get(name, ())) == 2]
    return Bf16Report(report)
