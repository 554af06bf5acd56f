"""Tests of examples/tinygpt: every backward against central finite differences
in float64, the optimizer pieces, the data pipeline, and a short training smoke
run per norm.

Gradient checks use directional derivatives along random directions
(central differences ``D(h) = (f(p + h d) - f(p - h d)) / 2h`` against
``<grad, d>``) plus a few single entries per tensor; the relative error must be
at most 1e-6. A plain central difference cannot promise that for the whole
model: its truncation error is O(h^2) and its round-off about
``1e-16 * |f| / h``, and the loss (~2.4) is large beside many of its
directional derivatives (down to ~1e-6 for single entries). So the difference
is Richardson-extrapolated, ``(4 D(h/2) - D(h)) / 3``, which cancels the h^2
term, and the step is set by its length in parameter space, ``h |d| = 5e-3``:
truncation (~step^4) and round-off (~1e-16 / step) both stay below 1e-10.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "tinygpt"))

import data as tg_data
import model as tg
import optim as tg_optim
import train as tg_train

F64 = np.float64
STEP = 5e-3  # length |h d| of the extrapolated central difference's step
TOL = 1e-6


def rel_err(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def directional(f: Callable[[], float], ps: list[np.ndarray], ds: list[np.ndarray]) -> float:
    """Richardson-extrapolated central difference of ``f`` along ``ds`` (``ps`` mutated in place)."""
    p0 = [p.copy() for p in ps]
    h = STEP / np.sqrt(sum(float(np.sum(d * d)) for d in ds))

    def at(t: float) -> float:
        for p, q, d in zip(ps, p0, ds):
            p[...] = q + t * d
        return f()

    d_h = (at(h) - at(-h)) / (2 * h)
    d_h2 = (at(h / 2) - at(-h / 2)) / h
    for p, q in zip(ps, p0):
        p[...] = q
    return (4 * d_h2 - d_h) / 3


def check_param(f: Callable[[], float], p: np.ndarray, g: np.ndarray, rng: np.random.Generator,
                n_dirs: int = 2, n_entries: int = 3, name: str = "") -> None:
    """Check ``g = df/dp`` where ``f`` re-runs the forward pass reading ``p`` (mutated in place)."""
    assert g.shape == p.shape, name
    g = np.array(g, dtype=F64)
    checks = [rng.standard_normal(p.shape) for _ in range(n_dirs)]
    for flat in rng.choice(p.size, size=min(n_entries, p.size), replace=False):
        e = np.zeros(p.size)
        e[flat] = 1.0
        checks.append(e.reshape(p.shape))
    for d in checks:
        fd = directional(f, [p], [d])
        an = float(np.sum(g * d))
        if abs(fd) < 1e-10 and abs(an) < 1e-10:  # e.g. an entry of wte for an unused token
            continue
        assert rel_err(fd, an) <= TOL, f"{name}: finite difference {fd!r} vs backward {an!r}"


def check_module(module, x: np.ndarray, rng: np.random.Generator, **kw) -> None:
    """Check ``dx`` and every parameter gradient of ``module`` for ``f = sum(forward(x) * w)``."""
    w = rng.standard_normal(module.forward(x).shape)

    def f() -> float:
        return float(np.sum(module.forward(x) * w))

    f()
    dx = np.array(module.backward(w), dtype=F64)
    grads = {k: np.array(v, dtype=F64) for k, v in getattr(module, "grads", {}).items()}
    check_param(f, x, dx, rng, name="x", **kw)
    params = getattr(module, "params", {})
    assert set(grads) == set(params)
    for k, p in params.items():
        check_param(f, p, grads[k], rng, name=k, **kw)


def tiny_cfg(norm: str = "layer_norm", **kw) -> tg.GPTConfig:
    base = {"vocab_size": 11, "block_size": 6, "n_layer": 2, "n_head": 2, "n_embd": 8, "norm": norm,
            "alpha0_attn": 0.8, "alpha0_mlp": 0.4, "alpha0_final": 0.6, "init_std": 0.3,
            "emb_scale": 1.3, "dtype": F64}
    base.update(kw)
    return tg.GPTConfig(**base)


# --------------------------------------------------------------------------- parts


def test_gelu_backward() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-5, 5, 21), rng.standard_normal(30)]).reshape(3, 17)
    check_module(tg.GELU(), x, rng)


def test_gelu_matches_tanh_formula() -> None:
    x = np.linspace(-3, 3, 13)
    y = tg.GELU().forward(x)
    ref = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(y, ref, rtol=1e-15, atol=1e-15)


def test_linear_backward() -> None:
    rng = np.random.default_rng(1)
    lin = tg.Linear(5, 7, rng, std=0.5, dtype=F64)
    lin.params["bias"] += rng.standard_normal(7)
    check_module(lin, rng.standard_normal((2, 3, 5)), rng)


def test_attention_backward() -> None:
    rng = np.random.default_rng(2)
    attn = tg.CausalSelfAttention(C=8, n_head=2, block_size=6, rng=rng, std=0.5, proj_std=0.5, dtype=F64)
    for lin in (attn.qkv, attn.proj):
        lin.params["bias"] += 0.3 * rng.standard_normal(lin.params["bias"].shape)
    x = rng.standard_normal((2, 5, 8))  # T = 5 < block_size: the mask is sliced
    check_module(attn, x, rng)
    for name, lin in attn.modules().items():
        for k, p in lin.params.items():
            w = rng.standard_normal((2, 5, 8))

            def f(w: np.ndarray = w) -> float:
                return float(np.sum(attn.forward(x) * w))

            f()
            attn.backward(w)
            check_param(f, p, np.array(lin.grads[k]), rng, name=f"{name}.{k}")


def test_attention_is_causal() -> None:
    """Changing a later token never changes an earlier output."""
    rng = np.random.default_rng(3)
    attn = tg.CausalSelfAttention(C=8, n_head=2, block_size=6, rng=rng, std=0.5, proj_std=0.5, dtype=F64)
    x = rng.standard_normal((1, 6, 8))
    y = attn.forward(x).copy()
    x2 = x.copy()
    x2[0, 4:] += 1.0
    y2 = attn.forward(x2)
    np.testing.assert_array_equal(y[0, :4], y2[0, :4])
    assert not np.allclose(y[0, 4:], y2[0, 4:])


def test_mlp_backward() -> None:
    rng = np.random.default_rng(4)
    mlp = tg.MLP(6, rng, std=0.5, proj_std=0.5, dtype=F64)
    x = rng.standard_normal((2, 3, 6))
    check_module(mlp, x, rng)
    for name, lin in mlp.modules().items():
        for k, p in lin.params.items():
            w = rng.standard_normal((2, 3, 6))

            def f(w: np.ndarray = w) -> float:
                return float(np.sum(mlp.forward(x) * w))

            f()
            mlp.backward(w)
            check_param(f, p, np.array(lin.grads[k]), rng, name=f"{name}.{k}")


def test_cross_entropy_backward() -> None:
    rng = np.random.default_rng(5)
    logits = 3 * rng.standard_normal((2, 4, 9))
    targets = rng.integers(0, 9, size=(2, 4))
    ce = tg.CrossEntropy()

    def f() -> float:
        return ce.forward(logits, targets)

    loss = f()
    # value: mean of -log softmax at the target
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ref = -np.mean(np.take_along_axis(logp, targets[..., None], -1))
    assert abs(loss - ref) < 1e-12
    check_param(f, logits, ce.backward(), rng, n_dirs=3, n_entries=6, name="logits")


def test_cross_entropy_large_logits_finite() -> None:
    ce = tg.CrossEntropy()
    logits = np.array([[[1e4, 0.0, -1e4]]], dtype=np.float32)
    assert ce.forward(logits, np.array([[1]])) == pytest.approx(1e4)
    assert np.all(np.isfinite(ce.backward()))


def test_embedding_backward_with_repeated_ids_and_tied_unembed() -> None:
    rng = np.random.default_rng(6)
    emb = tg.Embedding(vocab_size=5, block_size=6, C=4, rng=rng, std=0.5, dtype=F64, scale=1.7)
    idx = np.array([[1, 3, 1, 1], [0, 3, 4, 1]])  # repeats: the scatter must add
    w = rng.standard_normal((2, 4, 4))
    wl = rng.standard_normal((2, 4, 5))

    def f() -> float:  # embedding, then the tied output projection of a function of it
        x = emb.forward(idx)
        return float(np.sum(x * w) + np.sum(emb.unembed(np.tanh(x)) * wl))

    f()
    x = emb.forward(idx)
    h = np.tanh(x)
    emb.unembed(h)
    dh, dwte_head = emb.unembed_backward(wl)
    emb.backward(w + dh * (1 - h**2))
    dwte = emb.grads["wte"] + dwte_head
    check_param(f, emb.params["wte"], dwte, rng, n_entries=5, name="wte")
    check_param(f, emb.params["wpe"], emb.grads["wpe"], rng, n_entries=5, name="wpe")
    assert np.all(emb.grads["wpe"][4:] == 0)  # positions past T get no gradient


def test_embedding_rejects_too_long_input() -> None:
    emb = tg.Embedding(5, 4, 3, np.random.default_rng(0), 0.1)
    with pytest.raises(ValueError):
        emb.forward(np.zeros((1, 5), dtype=np.int64))


@pytest.mark.parametrize("norm", tg.NORMS)
def test_block_backward(norm: str) -> None:
    rng = np.random.default_rng(7)
    cfg = tiny_cfg(norm)
    block = tg.Block(cfg, np.random.default_rng(8))
    for m in block.modules().values():
        for p in m.params.values():
            p += 0.05 * rng.standard_normal(p.shape)  # generic point: biases, norm affines off init
    x = rng.standard_normal((2, 5, cfg.n_embd))
    w = rng.standard_normal(x.shape)

    def f() -> float:
        return float(np.sum(block.forward(x) * w))

    f()
    dx = np.array(block.backward(w))
    grads = {f"{mn}.{k}": np.array(v) for mn, m in block.modules().items() for k, v in m.grads.items()}
    check_param(f, x, dx, rng, name="x")
    for mn, m in block.modules().items():
        for k, p in m.params.items():
            check_param(f, p, grads[f"{mn}.{k}"], rng, n_dirs=1, n_entries=1, name=f"{mn}.{k}")


# --------------------------------------------------------------------------- the whole model


@pytest.mark.parametrize("norm,tied", [(n, True) for n in tg.NORMS] + [("layer_norm", False), ("dyisru", False)])
def test_model_backward(norm: str, tied: bool) -> None:
    rng = np.random.default_rng(9)
    cfg = tiny_cfg(norm, tied=tied)
    model = tg.GPT(cfg, seed=10)
    params = model.parameters()
    for p in params.values():  # a generic point: norm affines and biases off their init
        if p.ndim < 2:
            p += 0.05 * rng.standard_normal(p.shape)
    idx = rng.integers(0, cfg.vocab_size, size=(2, cfg.block_size))
    targets = rng.integers(0, cfg.vocab_size, size=(2, cfg.block_size))
    ce = tg.CrossEntropy()

    def f() -> float:
        return ce.forward(model.forward(idx), targets)

    f()
    model.backward(ce.backward())
    grads = {k: np.array(v) for k, v in model.gradients().items()}
    assert set(grads) == set(params)
    # all parameters at once along random directions
    dirs = [{k: rng.standard_normal(p.shape) for k, p in params.items()} for _ in range(3)]
    for d in dirs:
        fd = directional(f, list(params.values()), [d[k] for k in params])
        an = sum(float(np.sum(grads[k] * d[k])) for k in params)
        assert rel_err(fd, an) <= TOL, (fd, an)
    # and each tensor on its own (scalar alpha/beta included), one direction + one entry
    for k, p in params.items():
        check_param(f, p, grads[k], rng, n_dirs=1, n_entries=1, name=k)


def test_tied_model_has_no_head() -> None:
    names = tg.GPT(tiny_cfg(tied=True)).parameters()
    assert not any(k.startswith("head") for k in names)
    assert "head.weight" in tg.GPT(tiny_cfg(tied=False)).parameters()


def test_norm_choice_and_initial_values() -> None:
    cfg = tiny_cfg("dyt")
    model = tg.GPT(cfg)
    p = model.parameters()
    assert p["blocks.0.norm1.alpha"] == pytest.approx(0.8)
    assert p["blocks.1.norm2.alpha"] == pytest.approx(0.4)
    assert p["norm_f.alpha"] == pytest.approx(0.6)
    p = tg.GPT(tiny_cfg("dyisru")).parameters()  # beta0 defaults to 1/alpha0^2
    assert p["blocks.0.norm1.beta"] == pytest.approx(1 / 0.8**2)
    assert p["blocks.0.norm2.beta"] == pytest.approx(1 / 0.4**2)
    assert p["norm_f.beta"] == pytest.approx(1 / 0.6**2)
    p = tg.GPT(tiny_cfg("dyisru_softplus", beta0_final=3.0)).parameters()
    assert np.logaddexp(0, p["norm_f.beta_raw"]) == pytest.approx(3.0)  # effective value, not raw
    assert isinstance(tg.GPT(tiny_cfg("rms_norm")).norm_f, tg.dn.RMSNorm)
    with pytest.raises(ValueError):
        tiny_cfg("batch_norm")


# --------------------------------------------------------------------------- optimizer, data


def test_cosine_schedule() -> None:
    lr = [tg_optim.cosine_lr(s, 1.0, 0.1, 10, 110) for s in range(120)]
    assert lr[0] == pytest.approx(0.1) and lr[9] == pytest.approx(1.0)
    assert lr[10] == pytest.approx(1.0) and lr[60] == pytest.approx(0.55)
    assert lr[110] == pytest.approx(0.1) and lr[119] == pytest.approx(0.1)
    assert all(a >= b for a, b in itertools.pairwise(lr[10:]))


def test_adamw_step_and_decay_rule() -> None:
    W = np.full((2, 2), 1.0)
    b = np.full(2, 1.0)
    alpha = np.array(0.5)
    params = {"w": W, "b": b, "alpha": alpha}
    opt = tg_optim.AdamW(params, betas=(0.9, 0.99), eps=0.0, weight_decay=0.5)
    grads = {"w": np.full((2, 2), 2.0), "b": np.full(2, -3.0), "alpha": np.array(4.0)}
    opt.step(grads, lr=0.1)
    # first step: bias-corrected m/sqrt(v) = sign(g); decay only on the matrix
    np.testing.assert_allclose(W, 1.0 * (1 - 0.1 * 0.5) - 0.1)
    np.testing.assert_allclose(b, 1.1)
    assert params["alpha"] is alpha and float(alpha) == pytest.approx(0.4)  # updated in place
    assert opt.decayed == {"w": True, "b": False, "alpha": False}


def test_clip_grad_norm() -> None:
    g = {"a": np.array([3.0, 0.0]), "s": np.array(4.0)}
    assert tg_optim.clip_grad_norm(g, 10.0) == pytest.approx(5.0)
    assert g["a"][0] == 3.0
    assert tg_optim.clip_grad_norm(g, 1.0) == pytest.approx(5.0)
    assert np.sqrt(g["a"] @ g["a"] + g["s"] ** 2) == pytest.approx(1.0, rel=1e-5)


def test_data_split_and_batches() -> None:
    ds = tg_data.build_dataset()
    text = tg_data.load_text()
    assert len(ds.train) + len(ds.val) == len(text)
    assert ds.decode(ds.val[:50]) == text[len(ds.train):len(ds.train) + 50]
    assert ds.vocab_size == len(set(text))
    x, y = tg_data.random_batch(ds.train, 4, 16, np.random.default_rng(0))
    assert x.shape == y.shape == (4, 16)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    x2, _ = tg_data.random_batch(ds.train, 4, 16, np.random.default_rng(0))
    np.testing.assert_array_equal(x, x2)


# --------------------------------------------------------------------------- training smoke runs


@pytest.fixture(scope="module")
def dataset() -> tg_data.CharDataset:
    return tg_data.build_dataset()


def smoke(norm: str, dataset: tg_data.CharDataset) -> dict:
    cfg = tg.GPTConfig(vocab_size=dataset.vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=32,
                       norm=norm)
    tc = tg_train.TrainConfig(steps=40, batch_size=8, lr=3e-3, min_lr=3e-4, warmup=5, seed=0,
                              eval_interval=40, eval_batches=2, log_interval=1000)
    return tg_train.train(cfg, tc, dataset, verbose=False)


@pytest.mark.parametrize("norm", tg.NORMS)
def test_training_smoke_loss_falls(norm: str, dataset: tg_data.CharDataset) -> None:
    r = smoke(norm, dataset)
    train = r["history"]["train"]
    assert not r["diverged"]
    assert np.mean(train[-5:]) < np.mean(train[:5]) - 0.8, train
    assert r["final_val"] < train[0] - 0.5
    assert r["tokens_per_s"] > 0


def test_training_is_deterministic(dataset: tg_data.CharDataset) -> None:
    a, b = smoke("dyisru", dataset), smoke("dyisru", dataset)
    assert a["history"]["train"] == b["history"]["train"]
    assert a["final_val"] == b["final_val"]


def test_compare_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = tg_train.main(["--compare", "--norms", "layer_norm,dyt", "--steps", "3", "--n-layer", "1",
                        "--n-embd", "16", "--n-head", "2", "--block-size", "8", "--batch-size", "2",
                        "--eval-interval", "3", "--eval-batches", "1", "--warmup", "1",
                        "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "| layer_norm |" in out and "| dyt |" in out and "3.209" in out and "3.349" in out
    assert (tmp_path / "compare.json").exists()
