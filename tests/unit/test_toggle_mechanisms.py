"""The next toggles' mechanisms, each proven on a tiny model: clipping, EMA, early stop, mixing,
channels_last and compile's eager fallback."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tui_trainer.config.schema import AugmentConfig, EarlyStopConfig, EmaConfig, OptimConfig
from tui_trainer.engine.clip import GradClipper, total_norm
from tui_trainer.engine.early_stop import early_stop
from tui_trainer.engine.ema import ModelEma
from tui_trainer.engine.mixing import BatchMixer
from tui_trainer.engine.speed import CompiledNet, batch_memory_format, to_channels_last
from tui_trainer.engine.tasks.classification.models import SmallCNN


def _grads(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


def _norm(grads: list[torch.Tensor]) -> float:
    return float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))


# -- gradient clipping -------------------------------------------------------------------------
@pytest.fixture
def problem():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    x, y = torch.randn(32, 8) * 10, torch.randint(0, 4, (32,))
    return model, x, y


def _true_grads(model, x, y):
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    grads = _grads(model)
    model.zero_grad()
    return grads


def test_clip_norm_bounds_the_true_gradient_under_a_grad_scaler(problem):
    """fp16's recipe on CPU: scaled backward, clip (unscaling first), step. The reported norm is
    the true (unscaled) one, the clipped gradient has exactly the bound as its norm, and the step
    applies the clipped true gradient (not unscaled twice)."""
    model, x, y = problem
    true = _true_grads(model, x, y)
    true_norm = _norm(true)
    bound = true_norm / 4
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    scaler.scale(nn.functional.cross_entropy(model(x), y)).backward()
    assert _norm(_grads(model)) == pytest.approx(true_norm * 2**12, rel=1e-4)  # scaled
    reported = GradClipper(OptimConfig(clip_grad_norm=bound))(opt, scaler)
    assert float(reported) == pytest.approx(true_norm, rel=1e-4)
    assert _norm(_grads(model)) == pytest.approx(bound, rel=1e-4)
    scaler.step(opt)
    scaler.update()
    for b, p, g in zip(before, model.parameters(), true, strict=True):
        torch.testing.assert_close(
            p.detach(), b - 0.1 * g * (bound / true_norm), rtol=1e-4, atol=1e-6
        )


def test_clip_norm_leaves_small_gradients_alone(problem):
    model, x, y = problem
    true = _true_grads(model, x, y)
    nn.functional.cross_entropy(model(x), y).backward()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    reported = GradClipper(OptimConfig(clip_grad_norm=_norm(true) * 2))(opt)
    assert float(reported) == pytest.approx(_norm(true), rel=1e-5)
    for g, p in zip(true, model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, g)


def test_clip_value_clamps_each_element_and_reports_the_pre_clip_norm(problem):
    model, x, y = problem
    true = _true_grads(model, x, y)
    limit = max(float(g.abs().max()) for g in true) / 3
    nn.functional.cross_entropy(model(x), y).backward()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    reported = GradClipper(OptimConfig(clip_grad_value=limit))(opt)
    assert float(reported) == pytest.approx(_norm(true), rel=1e-5)
    for g, p in zip(true, model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, g.clamp(-limit, limit))
    assert max(float(p.grad.abs().max()) for p in model.parameters()) == pytest.approx(limit)


def test_clipping_off_does_nothing_and_total_norm_matches_torch(problem):
    model, x, y = problem
    nn.functional.cross_entropy(model(x), y).backward()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    assert GradClipper(OptimConfig())(opt) is None
    grads = _grads(model)
    assert float(total_norm(grads, 2.0)) == pytest.approx(_norm(grads), rel=1e-6)
    assert float(total_norm(grads, math.inf)) == pytest.approx(
        max(float(g.abs().max()) for g in grads)
    )


# -- EMA ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("warmup", [0, 5])
def test_ema_equals_the_analytic_average(warmup):
    """After k updates each EMA tensor is the recurrence e = d_t e + (1 - d_t) w_t, computed
    here independently in float64; BatchNorm's running stats are averaged, its counter copied."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    cfg = EmaConfig(enabled=True, decay=0.9, warmup_steps=warmup)
    ema = ModelEma(model, cfg)
    expected = {k: v.double().clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for t in range(1, 13):
        model.train()
        model(torch.randn(8, 3)).pow(2).mean().backward()
        opt.step()
        opt.zero_grad()
        ema.update(model)
        d = 0.9 if warmup == 0 else 0.9 * (1 - math.exp(-t / warmup))
        for k, w in model.state_dict().items():
            if w.is_floating_point():
                expected[k] = d * expected[k] + (1 - d) * w.double()
            else:
                expected[k] = w.double()
    got = ema.module.state_dict()
    for k, v in expected.items():
        torch.testing.assert_close(got[k].double(), v, rtol=1e-5, atol=1e-6)
    assert int(got["1.num_batches_tracked"]) == 12
    # The EMA really differs from the live weights, and the warm-up makes it forget faster.
    assert not torch.allclose(got["0.weight"], model.state_dict()["0.weight"])
    assert ema.updates == 12 and not ema.module.training
    assert all(not p.requires_grad for p in ema.module.parameters())


def test_ema_state_round_trips_exactly():
    torch.manual_seed(1)
    model = nn.Linear(3, 2)
    ema = ModelEma(model, EmaConfig(enabled=True, decay=0.5, warmup_steps=3))
    for _ in range(4):
        with torch.no_grad():
            model.weight.add_(1.0)
        ema.update(model)
    other = ModelEma(nn.Linear(3, 2), EmaConfig(enabled=True, decay=0.5, warmup_steps=3))
    other.load_state_dict(ema.state_dict())
    assert other.updates == 4
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    other.update(model)
    assert torch.equal(ema.module.weight, other.module.weight)


# -- early stopping ----------------------------------------------------------------------------
def _hist(values, key="val_accuracy"):
    return [{"epoch": i + 1, key: v} for i, v in enumerate(values)]


def test_early_stop_ends_at_the_expected_epoch():
    cfg = EarlyStopConfig(patience=2)
    values = [0.5, 0.6, 0.7, 0.65, 0.7, 0.69, 0.9]
    stops = [
        e
        for e in range(1, len(values) + 1)
        if early_stop(_hist(values[:e]), "val_accuracy", "max", cfg)
    ]
    assert stops[0] == 5  # best 0.7 at epoch 3; epochs 4 and 5 do not beat it (0.7 is a tie)
    verdict = early_stop(_hist(values[:5]), "val_accuracy", "max", cfg)
    assert (verdict.best, verdict.best_epoch, verdict.waited) == (0.7, 3, 2)
    assert "not improved for 2 epoch(s)" in verdict.message(5, 20)
    assert "stopping after epoch 5 of 20" in verdict.message(5, 20)


def test_early_stop_min_delta_and_min_mode():
    cfg = EarlyStopConfig(patience=2, min_delta=0.05)
    # Each epoch improves a little, never by more than 0.05: stop after 2 waiting epochs.
    assert early_stop(_hist([1.0, 0.97, 0.95], "val_loss"), "val_loss", "min", cfg)
    assert not early_stop(_hist([1.0, 0.9, 0.8], "val_loss"), "val_loss", "min", cfg)
    # NaN counts as no improvement; off when patience is None.
    assert early_stop(_hist([1.0, math.nan, math.nan], "val_loss"), "val_loss", "min", cfg)
    assert early_stop(_hist([1.0, 2.0, 3.0]), "val_accuracy", "max", EarlyStopConfig()) is None


# -- Mixup / CutMix ----------------------------------------------------------------------------
def _labelled_batch(n=16, classes=4, size=8):
    torch.manual_seed(3)
    y = torch.randint(0, classes, (n,))
    x = y.float().view(n, 1, 1, 1).expand(n, 3, size, size).contiguous()  # pixel value = label
    return x, y


def test_mixup_mixes_with_the_configured_probability_and_alpha():
    x, y = _labelled_batch()
    alpha, prob, trials = 0.4, 0.3, 600
    mixer = BatchMixer(AugmentConfig(mixup={"alpha": alpha, "prob": prob}), 4)
    torch.manual_seed(0)
    lams = []
    for _ in range(trials):
        out = mixer(x, y)
        if out.kind == "none":
            assert out.targets is y and out.images is x
            continue
        assert out.kind == "mixup"
        # Soft targets: lam for the own label, 1 - lam for the rolled neighbour's.
        own = out.targets.gather(1, y.view(-1, 1)).squeeze(1)
        lam = float(own[y != y.roll(1, 0)][0])
        lams.append(lam)
        torch.testing.assert_close(out.targets.sum(1), torch.ones(16))
        # Images mixed by the same lam: pixel = lam * y + (1 - lam) * y_rolled.
        torch.testing.assert_close(out.images[:, 0, 0, 0], lam * y + (1 - lam) * y.roll(1, 0))
        assert torch.equal(out.labels, out.targets.argmax(1))
    rate = len(lams) / trials
    assert abs(rate - prob) < 4 * math.sqrt(prob * (1 - prob) / trials)
    t = torch.tensor(lams)
    # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)).
    assert float(t.mean()) == pytest.approx(0.5, abs=0.06)
    assert float(t.var()) == pytest.approx(1 / (4 * (2 * alpha + 1)), rel=0.25)
    assert torch.equal(x, _labelled_batch()[0])  # the input batch is untouched


def test_cutmix_targets_match_the_pasted_area():
    x, y = _labelled_batch(size=16)
    mixer = BatchMixer(AugmentConfig(cutmix={"alpha": 1.0, "prob": 1.0}), 4)
    torch.manual_seed(0)
    pasted = 0
    for _ in range(20):
        out = mixer(x, y)
        assert out.kind == "cutmix"
        i = int(torch.nonzero(y != y.roll(1, 0))[0])
        other = float(y.roll(1, 0)[i])
        area = float((out.images[i, 0] == other).float().mean())
        torch.testing.assert_close(float(out.targets[i, int(other)]), area)
        pasted += area > 0
    assert pasted > 10


def test_mixup_and_cutmix_share_batches_and_off_is_identity():
    x, y = _labelled_batch()
    both = BatchMixer(
        AugmentConfig(mixup={"alpha": 0.2, "prob": 0.5}, cutmix={"alpha": 1.0, "prob": 0.5}), 4
    )
    torch.manual_seed(0)
    kinds = [both(x, y).kind for _ in range(200)]
    assert set(kinds) == {"mixup", "cutmix"}
    assert 70 < kinds.count("mixup") < 130
    off = BatchMixer(AugmentConfig(), 4)
    assert not off.enabled and off(x, y).targets is y


# -- speed ------------------------------------------------------------------------------------
def test_channels_last_reaches_params_and_inputs():
    model = to_channels_last(SmallCNN(10, 3, 16))
    convs = [p for p in model.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    x = batch_memory_format(torch.randn(4, 3, 16, 16), True)
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    flat = torch.randn(4, 10)
    assert batch_memory_format(flat, True) is flat
    assert batch_memory_format(x, False) is x


def test_compile_falls_back_to_eager_once_with_one_reason(monkeypatch):
    """A compile failure on the first step: one notice, the step reruns eager, gradients clean."""
    model = nn.Linear(4, 2)
    told: list[str] = []

    def broken(*_a, **_k):
        raise RuntimeError("InductorError: no working C++ compiler found\nmore detail")

    monkeypatch.setattr(torch, "compile", lambda module, mode: broken)
    net = CompiledNet(model, enabled=True, on_fallback=told.append)
    assert net.active and list(net.state_dict()) == ["inner.weight", "inner.bias"]
    x = torch.randn(3, 4)
    calls = []

    def step():
        calls.append(1)
        out = net(x).sum()
        out.backward()
        return out

    out = net.guarded(step, model.zero_grad)
    assert not net.active and net.settled and len(told) == 1
    assert "torch.compile failed, running eager: RuntimeError: InductorError" in told[0]
    assert "more detail" not in told[0]
    torch.testing.assert_close(out, model(x).sum())
    net.guarded(step, model.zero_grad)  # settled: no second notice
    assert len(told) == 1 and len(calls) == 3  # failed compiled, eager retry, eager


def test_compile_does_not_hide_out_of_memory(monkeypatch):
    model = nn.Linear(4, 2)

    def oom(*_a, **_k):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(torch, "compile", lambda module, mode: oom)
    net = CompiledNet(model, enabled=True)
    with pytest.raises(torch.OutOfMemoryError):
        net.guarded(lambda: net(torch.randn(2, 4)), model.zero_grad)
    assert net.fallback is None


def test_compile_disabled_is_the_plain_module():
    model = nn.Linear(4, 2)
    net = CompiledNet(model, enabled=False)
    x = torch.randn(2, 4)
    assert not net.active and net.settled
    assert torch.equal(net(x), model(x))


def test_backend_flags_are_set_as_configured_and_say_what_does_not_apply():
    from tui_trainer.config.schema import RunConfig
    from tui_trainer.engine.speed import apply_backend_flags

    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
    )
    try:
        notes = apply_backend_flags(
            RunConfig(tf32=True, cudnn_benchmark=True), torch.device("cuda")
        )
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        assert torch.backends.cudnn.benchmark
        assert notes == [
            "cudnn_benchmark: on although deterministic is true; cuDNN picks algorithms by "
            "timing, so GPU runs are not bitwise reproducible"
        ]
        notes = apply_backend_flags(RunConfig(tf32=False), torch.device("cuda"))
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.backends.cudnn.benchmark  # None leaves what `deterministic` chose
        notes = apply_backend_flags(
            RunConfig(tf32=True, cudnn_benchmark=False), torch.device("cpu")
        )
        assert notes == ["tf32: no effect on cpu (CUDA tensor cores only)"]
        assert not torch.backends.cudnn.benchmark
    finally:
        (
            torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32,
            torch.backends.cudnn.benchmark,
        ) = saved


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_clip_norm_is_the_true_norm_under_cuda_fp16_autocast():
    """The real fp16 recipe on a GPU: autocast, CUDA GradScaler, clip after unscaling."""
    torch.manual_seed(0)
    dev = torch.device("cuda")
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).to(dev)
    x, y = torch.randn(32, 8, device=dev) * 10, torch.randint(0, 4, (32,), device=dev)
    with torch.autocast("cuda", dtype=torch.float16):
        loss = nn.functional.cross_entropy(model(x), y)
    loss.float().backward()
    true_norm = _norm(_grads(model))
    model.zero_grad()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cuda", init_scale=2.0**10)
    with torch.autocast("cuda", dtype=torch.float16):
        loss = nn.functional.cross_entropy(model(x), y)
    scaler.scale(loss).backward()
    reported = GradClipper(OptimConfig(clip_grad_norm=true_norm / 4))(opt, scaler)
    assert float(reported) == pytest.approx(true_norm, rel=1e-2)
    assert _norm(_grads(model)) == pytest.approx(true_norm / 4, rel=1e-2)
    scaler.step(opt)
    scaler.update()
