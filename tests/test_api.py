"""The public API's contracts: backends and ISAs, out= and in place, zero rows,
strided input, NaN isolation, dtypes, parameter and gradient semantics."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dynorm as dn
from dynorm import _backend
from dynorm import reference as ref
from dynorm.functional import FUNCTIONS as _FUNCTIONS
from dynorm.ops import OPS, Op
from dynorm.selfcheck import LAYERS, randomize

C = 7
RNG = np.random.default_rng(0)
X64 = RNG.standard_normal((2, 3, C))


def _with_scalars(op: Op) -> Callable[..., np.ndarray]:
    """``op``'s functional with its learnable scalars at values off their defaults."""
    values = [0.7 * s.default + 0.3 * s.sample[1] for s in op.learnable]
    return lambda x, **kw: _FUNCTIONS[op.name](x, *values, **kw)


#: Every functional forward of the table, its required scalars given.
FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {op.name: _with_scalars(op) for op in OPS}

DTYPES = [np.float32, np.float64]


def fresh_layer(name: str, dtype: Any = np.float64, seed: int = 0) -> dn.Module:
    layer = LAYERS[name](C, dtype)
    randomize(layer, np.random.default_rng(seed))
    return layer


def forward_backward(layer: dn.Module, x: np.ndarray, dy: np.ndarray) -> dict[str, np.ndarray]:
    y = layer.forward(x)
    dx = layer.backward(dy)
    return {"y": y, "dx": dx, **{k: g.copy() for k, g in layer.grads.items()}}


# ------------------------------------------------------- backends and ISA


def test_backends_and_isa_report_numpy() -> None:
    assert "numpy" in dn.backends()
    assert dn.backends()[0] == _backend.active_name()  # the default, first
    with dn.use_backend("numpy"):
        assert dn.isa() == "numpy"
        assert dn.available_isas() == ["numpy"]
        with dn.use_isa("numpy") as ctx:
            assert ctx is not None and dn.isa() == "numpy"


def test_use_backend_is_a_call_and_a_context_manager() -> None:
    before = _backend.active_name()
    try:
        dn.use_backend("numpy")
        assert _backend.active_name() == "numpy"
    finally:
        dn.use_backend(before)
    with dn.use_backend("numpy"):
        assert _backend.active_name() == "numpy"
    assert _backend.active_name() == before


def test_use_isa_restores_on_exit(backend: str) -> None:
    before = dn.isa()
    for name in dn.available_isas():
        with dn.use_isa(name):
            assert dn.isa() == name
        assert dn.isa() == before


class CountingBackend(_backend.NumpyBackend):
    """The NumPy backend, counting calls and with two pretend ISAs."""

    def __init__(self) -> None:
        self.calls = 0
        self._isa = "fast"

    def isas(self) -> list[str]:
        return ["fast", "slow"]

    def current_isa(self) -> str:
        return self._isa

    def set_isa(self, name: str) -> None:
        self._isa = name

    def forward(self, *args: Any) -> None:
        self.calls += 1
        super().forward(*args)


def test_register_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_backend, "_registry", dict(_backend._registry))
    monkeypatch.setattr(_backend, "_default", _backend._default)
    monkeypatch.setattr(_backend, "_active", _backend._active)
    counting = CountingBackend()
    _backend.register_backend("counting", counting)
    assert dn.backends()[0] == "counting" and "numpy" in dn.backends()
    assert dn.available_isas() == ["fast", "slow"] and dn.isa() == "fast"
    with dn.use_isa("slow"):
        assert dn.isa() == "slow"
    assert dn.isa() == "fast"
    dn.dyt(X64, 0.5)
    dn.DyT(C, dtype=np.float64)(X64)
    assert counting.calls == 2  # exactly one backend call per forward
    with dn.use_backend("numpy"):
        dn.dyt(X64, 0.5)
    assert counting.calls == 2


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that imports this very dynorm."""
    src = str(Path(dn.__file__).resolve().parent.parent)
    environ = {**os.environ, **env, "PYTHONPATH": src}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environ, timeout=120, stdin=subprocess.DEVNULL)


def test_dynorm_isa_environment_variable() -> None:
    """A valid name or "auto" is used; anything else warns, naming the
    variable and the accepted values, and the best ISA runs: import never fails."""
    best = dn.available_isas()[-1]
    probe = "import dynorm, numpy; print(dynorm.isa()); print(dynorm.dyt(numpy.ones(3), 0.5)[0])"
    for value, expected in [(dn.available_isas()[0], dn.available_isas()[0]), ("auto", best),
                            ("no-such-isa", best)]:
        run = run_python(probe, DYNORM_ISA=value)
        assert run.returncode == 0, run.stderr
        assert run.stdout.split()[0] == expected, (value, run.stdout)
        if value == "no-such-isa":
            assert "DYNORM_ISA" in run.stderr and "no-such-isa" in run.stderr
            assert "auto" in run.stderr and best in run.stderr
        else:
            assert "Warning" not in run.stderr, run.stderr


@pytest.mark.parametrize("value", ["abc", "0", "-1", "99999", "2.5"])
def test_bad_dynorm_num_threads_warns_and_uses_the_default(value: str) -> None:
    probe = "import dynorm, numpy; print(dynorm.num_threads()); dynorm.dyt(numpy.ones(3), 0.5)"
    default = run_python(probe)
    run = run_python(probe, DYNORM_NUM_THREADS=value)
    assert run.returncode == 0, run.stderr
    assert run.stdout == default.stdout
    if "c" in dn.backends():
        assert "DYNORM_NUM_THREADS" in run.stderr and repr(value) in run.stderr
        assert "1 to 1024" in run.stderr


def test_good_dynorm_num_threads_is_used() -> None:
    if "c" not in dn.backends():
        pytest.skip("the NumPy backend runs on one thread")
    run = run_python("import dynorm; print(dynorm.num_threads())", DYNORM_NUM_THREADS="3")
    assert run.returncode == 0 and run.stdout.split() == ["3"], run.stderr
    assert "Warning" not in run.stderr


# ------------------------------------------------------------ out= & in place


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_out_is_written_and_returned(backend: str, fn: str, dtype: Any) -> None:
    x = X64.astype(dtype)
    expected = FUNCTIONS[fn](x)
    out = np.full_like(x, np.nan)
    assert FUNCTIONS[fn](x, out=out) is out
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_functional_in_place(backend: str, fn: str) -> None:
    x = X64.copy()
    expected = FUNCTIONS[fn](x)
    assert FUNCTIONS[fn](x, out=x) is x
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("name", LAYERS)
def test_layer_in_place_forward_and_backward(backend: str, name: str) -> None:
    dy = RNG.standard_normal(X64.shape)
    expected = forward_backward(fresh_layer(name), X64, dy)
    layer = fresh_layer(name)
    x, g = X64.copy(), dy.copy()
    assert layer.forward(x, out=x) is x  # the input for backward is kept
    assert layer.backward(g, out=g) is g
    np.testing.assert_array_equal(x, expected["y"])
    np.testing.assert_array_equal(g, expected["dx"])
    for k in layer.grads:
        np.testing.assert_array_equal(layer.grads[k], expected[k])


@pytest.mark.parametrize("alias", ["out views x", "x views out"])
@pytest.mark.parametrize("name", LAYERS)
def test_layer_in_place_through_another_object(backend: str, name: str, alias: str) -> None:
    # out is x's very memory but not x itself, one side owning it: found as
    # in place (the owning-arrays shortcut must not call them disjoint), so
    # the input is still kept for backward
    dy = RNG.standard_normal(X64.shape)
    expected = forward_backward(fresh_layer(name), X64, dy)
    owner = X64.copy()
    x, out = (owner, owner.view()) if alias == "out views x" else (owner.view(), owner)
    layer = fresh_layer(name)
    assert layer.forward(x, out=out) is out
    np.testing.assert_array_equal(owner, expected["y"])
    np.testing.assert_array_equal(layer.backward(dy), expected["dx"])


@pytest.mark.parametrize("name", LAYERS)
def test_layer_backward_out(backend: str, name: str) -> None:
    # a fresh array (all three arrays own their memory: the shortcut), dy's
    # memory through another object (in place), and a part of dy (refused)
    dy = RNG.standard_normal(X64.shape)
    expected = forward_backward(fresh_layer(name), X64, dy)
    layer = fresh_layer(name)
    layer.forward(X64)
    out = np.full_like(dy, np.nan)
    assert layer.backward(dy, out=out) is out
    np.testing.assert_array_equal(out, expected["dx"])
    g = dy.copy()
    np.testing.assert_array_equal(layer.backward(g, out=g.view()), expected["dx"])
    g = dy.copy()
    np.testing.assert_array_equal(layer.backward(g.view(), out=g), expected["dx"])
    flat = np.concatenate([dy.ravel(), dy.ravel()[:C]])
    with pytest.raises(ValueError, match="overlaps the input"):
        layer.backward(flat[:dy.size].reshape(dy.shape), out=flat[C:].reshape(dy.shape))


# ----------------------------------------------------- shapes and layouts


@pytest.mark.parametrize("shape", [(0, C), (2, 0, C), (0,) + (C,)], ids=str)
@pytest.mark.parametrize("name", LAYERS)
def test_zero_rows(backend: str, name: str, shape: tuple[int, ...]) -> None:
    layer = fresh_layer(name)
    x = np.empty(shape)
    y = layer.forward(x)
    dx = layer.backward(np.empty(shape))
    assert y.shape == dx.shape == shape
    for g in layer.grads.values():
        np.testing.assert_array_equal(g, 0.0)  # a sum over no rows
    for fn in FUNCTIONS.values():
        assert fn(x).shape == shape


@pytest.mark.parametrize("name", LAYERS)
def test_strided_and_fortran_input_equal_a_contiguous_copy(backend: str, name: str) -> None:
    base = RNG.standard_normal((6, 2 * C))
    dbase = RNG.standard_normal((6, 2 * C))
    for view, dview in [
        (base[::2, ::2], dbase[::2, ::2]),
        (np.asfortranarray(base[:, :C]), np.asfortranarray(dbase[:, :C])),
        (base[:, :C].T.copy().T, dbase[:, :C]),
    ]:
        expected = forward_backward(fresh_layer(name), np.ascontiguousarray(view),
                                    np.ascontiguousarray(dview))
        got = forward_backward(fresh_layer(name), view, dview)
        for k in expected:
            np.testing.assert_array_equal(got[k], expected[k])
    for fn in FUNCTIONS.values():
        np.testing.assert_array_equal(fn(base[::2, ::2]), fn(base[::2, ::2].copy()))


def test_one_dimensional_input_is_one_row(backend: str) -> None:
    x = X64[0, 0]
    for fn in FUNCTIONS.values():
        np.testing.assert_array_equal(fn(x), fn(x[None])[0])


def test_array_likes_are_accepted() -> None:
    np.testing.assert_array_equal(dn.rms_norm([[3.0, 4.0]]), dn.rms_norm(np.array([[3.0, 4.0]])))


@pytest.mark.parametrize("name", LAYERS)
def test_reference_works_on_any_leading_shape(name: str) -> None:
    """The layer (2-D to the backend) and the reference on 3-D input agree;
    the reference's statistics have the leading shape, its gradients (C,)."""
    layer = fresh_layer(name)
    op, s = layer.op, layer._scalars()
    w, b = layer.params["weight"], layer.params.get("bias")
    y = layer.forward(X64)
    flat = layer.forward(X64.reshape(-1, C)).reshape(X64.shape)
    np.testing.assert_array_equal(y, flat)
    y_ref, *stats = op.forward(X64, w, b, *s)
    assert all(st.shape == X64.shape[:-1] for st in stats) and len(stats) == len(op.stats)
    dx, dw, db, *ds = op.backward(X64, X64, tuple(stats), w, *s)
    assert dx.shape == X64.shape and dw.shape == (C,) and len(ds) == len(op.learnable)
    assert (db is None) == (not op.bias)
    np.testing.assert_allclose(y_ref, y, rtol=1e-14, atol=1e-14)


# ------------------------------------------------------------ NaN and Inf


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", LAYERS)
def test_a_bad_value_stays_in_its_row(backend: str, name: str, bad: float) -> None:
    x = RNG.standard_normal((4, C))
    dy = RNG.standard_normal((4, C))
    clean = forward_backward(fresh_layer(name), x, dy)
    x[1, 3] = bad
    dirty = forward_backward(fresh_layer(name), x, dy)
    for k in ("y", "dx"):
        others_dirty, others_clean = np.delete(dirty[k], 1, axis=0), np.delete(clean[k], 1, axis=0)
        np.testing.assert_array_equal(others_dirty, others_clean)
    if np.isnan(bad):
        assert np.isnan(dirty["y"][1, 3])


def test_nan_makes_the_column_sums_nan() -> None:
    """Documented: dw/db sum over rows, so a NaN row makes them NaN (LN: every column)."""
    x = RNG.standard_normal((4, C))
    x[1, 3] = np.nan
    layer = dn.LayerNorm(C, dtype=np.float64)
    layer.forward(x)
    layer.backward(np.ones_like(x))
    assert np.all(np.isnan(layer.grads["weight"]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dyisru_saturates_instead_of_overflowing(backend: str, dtype: Any) -> None:
    big = np.finfo(dtype).max
    x = np.array([[-np.inf, -big, -1e30, 1e30, big, np.inf]], dtype)
    layer = dn.DyISRU(6, dtype=dtype)
    y = layer.forward(x)
    np.testing.assert_array_equal(y, np.sign(x))
    dx = layer.backward(np.ones_like(x))
    assert np.all(np.isfinite(dx)) and np.all(np.abs(dx) < 1e-30)
    assert np.isfinite(layer.grads["beta"])


def test_dyt_backward_is_accurate_in_saturation() -> None:
    """sech^2 from exp(-2|z|): full relative accuracy where 1 - tanh^2 is 0."""
    z = np.array([0.0, 1.0, 5.0, 10.0, 20.0, -30.0])
    dx, *_ = ref.dyt_backward(np.ones_like(z), z, 1.0, None)
    np.testing.assert_allclose(dx, 1.0 / np.cosh(z) ** 2, rtol=1e-14)
    assert dx[-1] > 0  # 1 - tanh(30)^2 rounds to 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_layernorm_statistics_do_not_cancel(dtype: Any) -> None:
    """|mean| = 1e6 std: LN(x) = LN(x - shift) (the shift is exact) up to the
    rounding of the mean itself, ~1e-16 * 1e6 * log2(C) in float64 (1e-7 *
    |y| in float32). A one-pass variance E[x^2] - E[x]^2 would be off by
    ~1e-16 * 1e12 = 1e-4 (float64) or everything (float32)."""
    shift = 1e6
    x = (shift + RNG.standard_normal((5, 64))).astype(dtype)
    y, y_shifted = dn.layer_norm(x), dn.layer_norm((x - dtype(shift)).astype(dtype))
    np.testing.assert_allclose(y, y_shifted, rtol=0, atol=1e-5 if dtype is np.float32 else 1e-8)


# ------------------------------------------------------- dtypes and params


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LAYERS)
def test_dtypes_are_preserved(backend: str, name: str, dtype: Any) -> None:
    layer = fresh_layer(name, dtype)
    assert layer.dtype == dtype
    out = forward_backward(layer, X64.astype(dtype), X64.astype(dtype))
    assert all(a.dtype == dtype for a in out.values())
    assert all(p.dtype == dtype for p in layer.params.values())
    for fn in FUNCTIONS.values():
        assert fn(X64.astype(dtype)).dtype == dtype


@pytest.mark.parametrize("name", LAYERS)
def test_grads_are_overwritten_not_accumulated(backend: str, name: str) -> None:
    layer = fresh_layer(name)
    first = forward_backward(layer, X64, X64)
    arrays = dict(layer.grads)
    second = forward_backward(layer, X64, X64)
    for k in layer.grads:
        np.testing.assert_array_equal(second[k], first[k])
        assert layer.grads[k] is arrays[k]  # overwritten in place
    assert set(layer.grads) == set(layer.params)
    assert all(layer.grads[k].shape == p.shape for k, p in layer.params.items())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LAYERS)
def test_gradient_arrays_put_in_grads_are_written(backend: str, name: str, dtype: Any) -> None:
    """A strided array, or one of another float dtype, put in ``grads`` in
    place of the layer's own is still overwritten with the gradient."""
    x, dy = X64.astype(dtype), (X64[::-1] * 0.5).astype(dtype)
    expected = forward_backward(fresh_layer(name, dtype), x, dy)
    layer = fresh_layer(name, dtype)
    other = np.float32 if dtype == np.float64 else np.float64
    put = {"weight": np.full(2 * C, 9, dtype)[::2]}  # strided
    if "bias" in layer.grads:
        put["bias"] = np.full(C, 9, other)
    layer.grads.update(put)
    forward_backward(layer, x, dy)
    for k, g in put.items():
        assert layer.grads[k] is g
        tol = 1e-6 if np.float32 in (dtype, g.dtype) else 1e-12
        np.testing.assert_allclose(g, expected[k], rtol=tol, atol=tol)


def test_params_and_grads_names_and_shapes() -> None:
    assert set(dn.LayerNorm(C).params) == {"weight", "bias"}
    assert set(dn.LayerNorm(C, bias=False).params) == {"weight"}
    assert set(dn.RMSNorm(C).params) == {"weight"}
    assert set(dn.DyT(C).params) == {"alpha", "weight", "bias"}
    assert set(dn.DyT(C, softplus=True, bias=False).params) == {"alpha_raw", "weight"}
    assert set(dn.DyISRU(C).params) == {"beta", "weight", "bias"}
    assert set(dn.DyISRU(C, softplus=True).params) == {"beta_raw", "weight", "bias"}
    layer = dn.DyISRU(768, beta0=4.0, bias=True, dtype=np.float32)
    assert layer.params["beta"].shape == () and layer.params["weight"].shape == (768,)
    np.testing.assert_array_equal(layer.params["weight"], 1.0)
    np.testing.assert_array_equal(layer.params["bias"], 0.0)
    assert layer.num_channels == 768 and layer.dtype == np.float32
    assert "DyISRU(768" in repr(layer) and "beta=4" in repr(layer)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus_stores_the_inverse_of_the_effective_value(dtype: Any) -> None:
    for alpha0 in [0.5, 1e-3, 2.0, 40.0]:
        layer = dn.DyT(C, alpha0=alpha0, softplus=True, dtype=dtype)
        raw = layer.params["alpha_raw"]
        assert raw.shape == () and raw.dtype == dtype
        np.testing.assert_allclose(layer.alpha, alpha0, rtol=4 * np.finfo(dtype).eps)
        np.testing.assert_allclose(ref.softplus(raw), alpha0, rtol=4 * np.finfo(dtype).eps)
    layer = dn.DyISRU(C, beta0=4.0, softplus=True, dtype=dtype)
    np.testing.assert_allclose(layer.beta, 4.0, rtol=4 * np.finfo(dtype).eps)
    assert dn.DyT(C).alpha == 0.5 and dn.DyISRU(C).beta == 4.0


def test_softplus_helpers_are_stable() -> None:
    y = np.array([1e-300, 1e-30, 1e-5, 0.5, 1.0, 30.0, 1e5, 1e300])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        # round trip: exact to the conditioning of exp(raw), |raw| * eps <= 700 * 2.2e-16
        np.testing.assert_allclose(ref.softplus(ref.softplus_inverse(y)), y, rtol=2e-13)
        x = np.array([-1000.0, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0])
        s = ref.sigmoid(x)
        assert np.all((s >= 0) & (s <= 1)) and s[3] == 0.5
        np.testing.assert_allclose(s + ref.sigmoid(-x), 1.0, rtol=1e-15)
        np.testing.assert_allclose(ref.softplus(x[1:-1]), np.log1p(np.exp(x[1:-1])), rtol=1e-15)
        assert ref.softplus(1000.0) == 1000.0 and ref.softplus(-1000.0) == 0.0


@pytest.mark.parametrize("name", LAYERS)
def test_parameter_mutation_affects_the_next_forward(backend: str, name: str) -> None:
    layer = fresh_layer(name)
    y0 = layer.forward(X64).copy()
    for p in layer.params.values():
        p[...] *= 1.5  # what an optimizer step does
    y1 = layer.forward(X64)
    assert not np.allclose(y0, y1)
    expected = fresh_layer(name)
    for k, p in expected.params.items():
        p[...] = layer.params[k]
    np.testing.assert_array_equal(y1, expected.forward(X64))


@pytest.mark.parametrize("name", LAYERS)
def test_replaced_parameter_is_read_by_the_next_calls(backend: str, name: str) -> None:
    """``params[k] = new_array``: forward and backward use the new array, though
    the layer had handed the old one to the backend already."""
    layer, expected = fresh_layer(name), fresh_layer(name)
    dy = np.random.default_rng(1).standard_normal(X64.shape)
    forward_backward(layer, X64, dy)
    for k in ("weight", "bias"):
        if k in layer.params:
            new = np.random.default_rng(2).uniform(0.5, 1.5, C)
            layer.params[k] = new
            expected.params[k][...] = new
    got, want = forward_backward(layer, X64, dy), forward_backward(expected, X64, dy)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


@pytest.mark.parametrize("name", LAYERS)
def test_strided_parameter_is_read_afresh_on_every_call(backend: str, name: str) -> None:
    """A non-contiguous weight is copied for the call, and that copy is not
    kept: updating the strided array in place shows in the next forward."""
    layer, expected = fresh_layer(name), fresh_layer(name)
    storage = np.repeat(layer.params["weight"], 2)
    layer.params["weight"] = storage[::2]
    y0 = layer.forward(X64).copy()
    storage[::2] *= 1.5
    y1 = layer.forward(X64)
    expected.params["weight"][...] = storage[::2]
    assert not np.allclose(y0, y1)
    np.testing.assert_array_equal(y1, expected.forward(X64))


def test_parameter_reshaped_in_place_is_still_read_as_its_values(backend: str) -> None:
    """The documented behaviour (dynorm.layers): a weight's shape attribute
    changed in place after the layer has used it goes unseen."""
    layer = fresh_layer("DyT")
    y0 = layer.forward(X64).copy()
    layer.params["weight"].shape = (1, C)
    np.testing.assert_array_equal(layer.forward(X64), y0)


@pytest.mark.parametrize("name", LAYERS)
def test_backward_uses_the_last_forward(backend: str, name: str) -> None:
    """Forwards of other inputs and row counts before the last one (the norms
    reuse their saved-statistics buffer) leave no trace in backward."""
    layer, fresh = fresh_layer(name), fresh_layer(name)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, C))
    dy = rng.standard_normal((4, C))
    for rows in (6, 4, 2, 4):  # the last as many rows as x: its buffer is reused
        layer.forward(rng.standard_normal((rows, C)))
    got, want = forward_backward(layer, x, dy), forward_backward(fresh, x, dy)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


@pytest.mark.parametrize("name", LAYERS)
def test_backend_switched_between_calls(name: str) -> None:
    """A layer used under one backend, then another, then the first again
    hands each its parameters in that backend's form."""
    layer = fresh_layer(name)
    names = dn.backends()
    results = []
    for backend in names + names[:1]:
        with dn.use_backend(backend):
            results.append(layer.forward(X64).copy())
    for y in results[1:]:
        np.testing.assert_allclose(y, results[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", LAYERS)
def test_layer_matches_functional(backend: str, name: str) -> None:
    layer = fresh_layer(name)
    op = layer.op
    kwargs = {s.name: getattr(layer, s.name) for s in op.scalars}  # the effective values
    kwargs["weight"] = layer.params["weight"]
    if op.bias:
        kwargs["bias"] = layer.params.get("bias")
    np.testing.assert_array_equal(layer(X64), _FUNCTIONS[op.name](X64, **kwargs))


def test_public_names() -> None:
    for name in ["layer_norm", "rms_norm", "dyt", "dyisru", "LayerNorm", "RMSNorm", "DyT",
                 "DyISRU", "backends", "use_backend", "isa", "available_isas", "use_isa",
                 "num_threads", "set_num_threads", "reference", "__version__"]:
        assert hasattr(dn, name), name
    for op in OPS:  # every op of the table, by its names
        assert getattr(dn, op.name) is _FUNCTIONS[op.name]
        assert getattr(dn, op.layer).op is op
        assert op.name in dn.__all__ and op.layer in dn.__all__
    assert dn.__version__ == "0.1.0"


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_generated_function_and_layer_document_themselves(op: Op) -> None:
    """Each functional made from the table has a real signature (the rule:
    x, learnable scalars, weight, bias, other scalars, then out by keyword),
    a docstring with Parameters, Returns, Raises, and an example that runs;
    each layer class a real constructor signature and a docstring."""
    import doctest
    import inspect

    fn = _FUNCTIONS[op.name]
    params = list(inspect.signature(fn).parameters.values())
    expected = ["x", *(s.name for s in op.learnable), "weight", *(["bias"] if op.bias else []),
                *(s.name for s in op.constants), "out"]
    assert [p.name for p in params] == expected
    assert params[-1].kind is inspect.Parameter.KEYWORD_ONLY
    for s in op.constants:
        assert inspect.signature(fn).parameters[s.name].default == s.default
    for section in ("Parameters", "Returns", "Raises", "Examples"):
        assert f"\n{section}\n" in fn.__doc__
    tests = doctest.DocTestFinder().find(fn, op.name, globs={})
    assert tests and tests[0].examples
    runner = doctest.DocTestRunner()
    for t in tests:
        runner.run(t)
    assert runner.summarize(verbose=False).failed == 0
    cls = getattr(dn, op.layer)
    init = list(inspect.signature(cls).parameters)
    assert init == ["C", *op.constructor_args, "dtype"]
    assert cls.__doc__ and "Parameters" in cls.__doc__ and cls.__module__ == "dynorm.layers"
