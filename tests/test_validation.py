"""Every bad input raises the documented exception, with a message that names
the problem and the accepted values (docs/design.md §6). The functions,
layers and scalars checked are those of the op table (dynorm.ops)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import dynorm as dn
from dynorm.functional import FUNCTIONS as _FUNCTIONS
from dynorm.layers import LAYERS as _LAYERS
from dynorm.ops import OPS, Op

C = 7
X = np.random.default_rng(0).standard_normal((3, C))
W = np.ones(C)


def _with_defaults(op: Op) -> Callable[..., np.ndarray]:
    defaults = [s.default for s in op.learnable]
    return lambda x, *args, **kw: _FUNCTIONS[op.name](x, *(args or defaults), **kw)


#: Every functional forward, its required scalars at their defaults unless given.
FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {op.name: _with_defaults(op) for op in OPS}
WITH_BIAS = [op.name for op in OPS if op.bias]
LAYER_TYPES: dict[str, Callable[..., dn.Module]] = {op.layer: _LAYERS[op.name] for op in OPS}
LEARNABLE = [op for op in OPS if op.learnable]

#: (op, scalar) for every scalar of every op, and the values outside its domain.
SCALARS = [pytest.param(op, s, id=f"{op.name}-{s.name}") for op in OPS for s in op.scalars]
BAD = {"finite": [np.nan, np.inf, -np.inf],
       "nonnegative": [-1.0, -1e-300, np.nan, np.inf, -np.inf]}
MESSAGE = {"finite": "{} must be finite", "nonnegative": "{} must be finite and >= 0"}

BAD_DTYPES = [np.int32, np.int64, np.uint8, np.float16, np.complex64, np.complex128, object, bool]


# ------------------------------------------------------------------ dtype


@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_bad_dtype_is_a_type_error(fn: str, dtype: Any) -> None:
    x = np.ones((2, C), dtype=dtype)
    with pytest.raises(TypeError, match=rf"{np.dtype(dtype)}.*float32 or float64"):
        FUNCTIONS[fn](x)


@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layer", LAYER_TYPES)
def test_bad_dtype_for_layers(layer: str, dtype: Any) -> None:
    with pytest.raises(TypeError, match="float32 or float64"):
        LAYER_TYPES[layer](C, dtype=dtype)
    with pytest.raises(TypeError, match="float32 or float64"):
        LAYER_TYPES[layer](C, dtype=np.float64).forward(np.ones((2, C), dtype=dtype))


def test_non_native_byte_order_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="non-native byte order"):
        dn.rms_norm(X.astype(">f8" if np.little_endian else "<f8"))


def test_python_lists_of_ints_are_not_cast() -> None:
    with pytest.raises(TypeError, match="int64.*float32 or float64"):
        dn.layer_norm([[1, 2, 3]])


@pytest.mark.parametrize("fn", WITH_BIAS)
@pytest.mark.parametrize("param", ["weight", "bias"])
def test_parameter_dtype_must_match(fn: str, param: str) -> None:
    with pytest.raises(TypeError, match=rf"{param} has dtype float32, but x has dtype float64"):
        FUNCTIONS[fn](X, **{param: W.astype(np.float32)})


def test_layer_fed_another_dtype() -> None:
    with pytest.raises(TypeError, match="dtype float64.*dtype=float64"):
        dn.LayerNorm(C).forward(X)  # a float32 layer


# ------------------------------------------------------------------ shape


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_zero_d_input(fn: str) -> None:
    with pytest.raises(ValueError, match="0-d"):
        FUNCTIONS[fn](np.float64(1.0))
    with pytest.raises(ValueError, match="0-d"):
        FUNCTIONS[fn](np.array(1.0))


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_zero_channels(fn: str) -> None:
    with pytest.raises(ValueError, match=r"C = 0"):
        FUNCTIONS[fn](np.ones((3, 0)))


@pytest.mark.parametrize("fn", FUNCTIONS)
@pytest.mark.parametrize("shape", [(C + 1,), (1, C), (C, 1), ()], ids=str)
def test_weight_shape(fn: str, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=rf"weight has shape .*must have shape \({C},\)"):
        FUNCTIONS[fn](X, weight=np.ones(shape))


@pytest.mark.parametrize("fn", WITH_BIAS)
def test_bias_shape(fn: str) -> None:
    with pytest.raises(ValueError, match=rf"bias has shape \({C - 1},\).*\({C},\)"):
        FUNCTIONS[fn](X, bias=np.zeros(C - 1))


@pytest.mark.parametrize("layer", LAYER_TYPES)
def test_layer_fed_another_C(layer: str) -> None:
    m = LAYER_TYPES[layer](C, dtype=np.float64)
    with pytest.raises(ValueError, match=rf"5 channels.*built for C = {C}"):
        m.forward(np.ones((2, 5)))


@pytest.mark.parametrize("layer", LAYER_TYPES)
@pytest.mark.parametrize("with_out", [False, True])
def test_layer_names_a_wrong_x_before_out(layer: str, with_out: bool) -> None:
    """x of the wrong dtype or C is reported as such, also when out matches
    the layer rather than x (the fast path takes neither)."""
    m = LAYER_TYPES[layer](C, dtype=np.float32)
    out = np.empty((3, C), np.float32) if with_out else None
    with pytest.raises(TypeError, match="got x of dtype float64; the layer's parameters are float32"):
        m.forward(X, out=out)
    out = np.empty((3, C + 1), np.float32) if with_out else None
    with pytest.raises(ValueError, match=rf"{C + 1} channels.*built for C = {C}"):
        m.forward(np.ones((3, C + 1), np.float32), out=out)


@pytest.mark.parametrize("layer", LAYER_TYPES)
@pytest.mark.parametrize("bad", [0, -3])
def test_layer_with_C_below_one(layer: str, bad: int) -> None:
    with pytest.raises(ValueError, match=r"must be >= 1"):
        LAYER_TYPES[layer](bad)


@pytest.mark.parametrize("bad", [7.0, "7", None, True])
def test_layer_with_non_integer_C(bad: Any) -> None:
    with pytest.raises(TypeError, match="must be an integer"):
        dn.RMSNorm(bad)


@pytest.mark.parametrize("layer", LAYER_TYPES)
def test_dy_shape_and_dtype(layer: str) -> None:
    m = LAYER_TYPES[layer](C, dtype=np.float64)
    m.forward(X)
    with pytest.raises(ValueError, match=r"dy has shape \(2, 7\), but x has shape \(3, 7\)"):
        m.backward(np.ones((2, C)))
    with pytest.raises(ValueError, match=r"dy has shape \(21,\)"):
        m.backward(np.ones(3 * C))
    with pytest.raises(TypeError, match="dy has dtype float32, but x has dtype float64"):
        m.backward(np.ones((3, C), np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        m.backward(np.ones((3, C), np.int64))


def test_mutated_parameter_of_wrong_shape_is_caught() -> None:
    m = dn.DyT(C, dtype=np.float64)
    m.params["weight"] = np.ones(C + 1)
    with pytest.raises(ValueError, match="weight has shape"):
        m.forward(X)


# ---------------------------------------------------------------- scalars


def _call(op: Op, scalar: str, value: float) -> np.ndarray:
    """The functional with ``scalar`` set to ``value``, the others at their defaults."""
    learnable = [value if s.name == scalar else s.default for s in op.learnable]
    kwargs = {s.name: value for s in op.constants if s.name == scalar}
    return _FUNCTIONS[op.name](X, *learnable, **kwargs)


@pytest.mark.parametrize(("op", "scalar"), SCALARS)
def test_bad_scalar(op: Op, scalar) -> None:  # type: ignore[no-untyped-def]
    """Outside its domain, a scalar is a ValueError naming it and its domain,
    in the functional, the layer's constructor and (a learnable one set in
    params, e.g. by a diverged optimizer step) the layer's forward; a
    learnable non-negative one's message points at softplus=True."""
    message = MESSAGE[scalar.domain].format(scalar.name)
    if scalar.learnable and scalar.domain == "nonnegative":
        message += rf".*{op.layer}\(softplus=True\) keeps {scalar.name} positive"
    layer_arg = scalar.name + "0" if scalar.learnable else scalar.name
    for bad in BAD[scalar.domain]:
        with pytest.raises(ValueError, match=message):
            _call(op, scalar.name, bad)
        with pytest.raises(ValueError, match=message):
            LAYER_TYPES[op.layer](C, **{layer_arg: bad})
        if scalar.learnable:
            m = LAYER_TYPES[op.layer](C, dtype=np.float64)
            m.params[scalar.name][...] = bad
            with pytest.raises(ValueError, match=message):
                m.forward(X)


@pytest.mark.parametrize(("op", "scalar"), SCALARS)
@pytest.mark.parametrize("bad", [np.array([0.5]), np.array([0.5, 1.0]), 1j, "0.5", None])
def test_scalar_that_is_not_a_real_scalar(op: Op, scalar, bad: Any) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match=f"{scalar.name} must be a real scalar"):
        _call(op, scalar.name, bad)


@pytest.mark.parametrize("op", LEARNABLE, ids=lambda op: op.name)
def test_softplus_needs_a_positive_initial_value_every_op(op: Op) -> None:
    for s in op.learnable:
        for bad in [0.0, -0.5] if s.domain == "finite" else [0.0]:
            with pytest.raises(ValueError, match=rf"{s.name}0 must be > 0 with softplus=True"):
                LAYER_TYPES[op.layer](C, softplus=True, **{s.name + "0": bad})


def test_softplus_needs_a_positive_initial_value() -> None:
    with pytest.raises(ValueError, match=r"alpha0 must be > 0 with softplus=True"):
        dn.DyT(C, alpha0=-0.5, softplus=True)
    with pytest.raises(ValueError, match=r"beta0 must be > 0 with softplus=True"):
        dn.DyISRU(C, beta0=0.0, softplus=True)


# ------------------------------------------------------------ state, out=


@pytest.mark.parametrize("layer", LAYER_TYPES)
def test_backward_before_forward(layer: str) -> None:
    with pytest.raises(RuntimeError, match=r"backward\(\) called before forward\(\)"):
        LAYER_TYPES[layer](C).backward(np.ones((2, C), np.float32))


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_bad_out(fn: str) -> None:
    f = FUNCTIONS[fn]
    with pytest.raises(TypeError, match="out must be a numpy.ndarray"):
        f(X, out=X.tolist())
    with pytest.raises(TypeError, match="out has dtype float32; the result has dtype float64"):
        f(X, out=np.empty(X.shape, np.float32))
    with pytest.raises(ValueError, match=r"out has shape \(7, 3\); the result has shape \(3, 7\)"):
        f(X, out=np.empty((C, 3)))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        f(X, out=np.empty(X.shape, order="F"))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        f(X, out=np.empty((3, 2 * C))[:, ::2])
    read_only = np.empty(X.shape)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        f(X, out=read_only)


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_out_partly_overlapping_x(fn: str) -> None:
    buf = np.random.default_rng(1).standard_normal(4 * C)
    x, out = buf[: 3 * C].reshape(3, C), buf[C:].reshape(3, C)
    with pytest.raises(ValueError, match="overlaps the input"):
        FUNCTIONS[fn](x, out=out)


def test_backward_out_must_not_overlap_the_saved_input() -> None:
    m = dn.LayerNorm(C, dtype=np.float64)
    x = X.copy()
    m.forward(x)
    with pytest.raises(ValueError, match="must not overlap x"):
        m.backward(np.ones_like(x), out=x)


def test_unknown_backend_and_isa() -> None:
    with pytest.raises(ValueError, match=r"unknown backend 'cuda'; choose from \[.*'numpy'.*\]"):
        dn.use_backend("cuda")
    with pytest.raises(ValueError, match=r"ISA 'sse9'.*choose from \["):
        dn.use_isa("sse9")
