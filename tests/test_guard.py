"""NonFiniteGuard: a non-finite loss or gradient skips the update on the device, checks report it."""

from __future__ import annotations

import logging

import pytest
import torch

from hdc_video.config import TrainConfig
from hdc_video.train.guard import MAX_BAD_GRADS, NonFiniteGuard, TrainingError
from hdc_video.train.optim import build_optimizer


def _setup(optimizer: str):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = build_optimizer(model, TrainConfig(optimizer=optimizer, lr=0.1, weight_decay=0.01))
    assert all(g["fused"] for g in opt.param_groups)
    return model, opt


def _step(model, opt, guard, grad_scale: float, loss_value: float = 1.0):
    """A step whose loss is ``loss_value`` and whose weight gradient is scaled by ``grad_scale``."""
    out = model(torch.ones(1, 3)).sum()
    loss = out - out.detach() + loss_value
    opt.zero_grad(set_to_none=True)
    loss.backward()
    model.weight.grad.mul_(grad_scale)  # NaN / inf here: a finite loss, a bad gradient
    guard.step(opt, loss, torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf")))


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_non_finite_gradient_skips_the_whole_update(optimizer):
    model, opt = _setup(optimizer)
    guard = NonFiniteGuard("cpu")
    _step(model, opt, guard, 1.0)  # a good step: momentum / Adam state exist
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    state = {k: {n: v.clone() for n, v in s.items()} for k, s in enumerate(opt.state.values())}
    _step(model, opt, guard, float("nan"))  # finite loss, NaN gradient
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    for k, s in enumerate(opt.state.values()):  # momentum buffers, Adam moments and step unchanged
        assert all(torch.equal(state[k][n], v) for n, v in s.items()), (optimizer, s.keys())
    assert guard.check() == 1 and guard.check() == 0  # counted once, then reset
    _step(model, opt, guard, 1.0)
    assert not torch.equal(weights["weight"], model.weight)


def test_too_many_bad_gradients_in_a_row_stop(caplog):
    model, opt = _setup("sgd")
    guard = NonFiniteGuard("cpu", step_offset=10)
    for _ in range(MAX_BAD_GRADS - 1):
        _step(model, opt, guard, float("inf"))
    _step(model, opt, guard, 1.0)  # the run is broken: no stop
    with caplog.at_level(logging.WARNING, logger="hdc_video.train"):
        assert guard.check() == MAX_BAD_GRADS - 1
    assert "skipped" in caplog.text
    for _ in range(MAX_BAD_GRADS):
        _step(model, opt, guard, float("nan"))
    with pytest.raises(
        TrainingError,
        match=rf"{MAX_BAD_GRADS} non-finite gradients in a row by step "
        rf"{10 + 2 * MAX_BAD_GRADS}; stopping; where",
    ):
        guard.check(lambda: "where")


def test_non_finite_loss_is_skipped_then_stops_at_the_check():
    model, opt = _setup("adamw")
    guard = NonFiniteGuard("cpu", step_offset=4)
    _step(model, opt, guard, 1.0)
    before = model.weight.clone()
    _step(model, opt, guard, 1.0, loss_value=float("nan"))
    _step(model, opt, guard, 1.0)
    assert not torch.equal(before, model.weight)  # the good step after it did update
    with pytest.raises(TrainingError, match="non-finite loss at step 6 .*stopping without saving; ckpt"):
        guard.check("ckpt")


def test_an_optimizer_that_is_not_fused_falls_back_to_a_host_check():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    guard = NonFiniteGuard("cpu")
    before = model.weight.clone()
    _step(model, opt, guard, float("nan"))
    assert torch.equal(before, model.weight) and guard.check() == 1
    _step(model, opt, guard, 1.0)
    assert not torch.equal(before, model.weight)


def test_a_skipped_first_sgd_step_leaves_clean_momentum():
    """Fused SGD would create its momentum buffers uninitialised on a first step it then skips;
    build_optimizer starts them at zero, so the next good step is a clean first step."""
    torch.manual_seed(0)
    junk = [torch.full((4096,), float("nan")) for _ in range(8)]  # freed memory full of NaN
    del junk
    model, opt = _setup("sgd")
    fresh_model, fresh_opt = _setup("sgd")
    fresh_model.load_state_dict(model.state_dict())
    guard = NonFiniteGuard("cpu")
    _step(model, opt, guard, float("inf"))  # the very first step: skipped
    assert guard.check() == 1
    _step(model, opt, guard, 1.0)
    _step(fresh_model, fresh_opt, NonFiniteGuard("cpu"), 1.0)
    for a, b in zip(model.parameters(), fresh_model.parameters()):
        assert torch.isfinite(a).all() and torch.equal(a, b)
    buf = [s["momentum_buffer"] for s in opt.state.values()]
    assert all(torch.isfinite(m).all() for m in buf)


def test_loading_a_non_fused_state_keeps_the_optimizer_fused():
    from hdc_video.train.optim import load_optimizer_state

    model, opt = _setup("adamw")
    state = build_optimizer(model, TrainConfig(optimizer="adamw", lr=0.1)).state_dict()
    for g in state["param_groups"]:
        g["fused"] = None  # what an older, non-fused checkpoint holds
    load_optimizer_state(opt, state)
    assert all(g["fused"] for g in opt.param_groups)
