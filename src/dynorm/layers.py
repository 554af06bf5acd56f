"""Layers: own their parameters, cache what backward needs, fill ``grads``.

Common contract (:class:`Module`):

* ``params``: name -> ndarray of the layer's dtype. ``weight`` (ones) and
  ``bias`` (zeros) have shape ``(C,)``; DyT's ``alpha`` and DyISRU's ``beta``
  are 0-d arrays (``alpha_raw``/``beta_raw`` with ``softplus=True``).
  Optimizers may update them in place (``p[...] -= lr * g``): every forward
  and backward reads them afresh. ``params[name] = new_array`` replaces one
  (checked on the next call). A weight or bias is checked and handed to the
  backend once per array object: changing its ``shape`` or ``dtype``
  attribute in place afterwards goes unseen (its data is still read as the
  layer's C values), so replace the array instead.
* ``grads``: the same keys and shapes. **Each backward overwrites them, in
  place; gradients are not accumulated across calls.** Copy them to keep them.
* ``forward(x, out=None)`` (also ``layer(x)``) takes x of the layer's dtype
  with ``C`` channels on the last axis, any leading shape, and caches x (a
  reference to its C-contiguous view; a copy when ``out`` is x itself, or x is
  not C-contiguous). Modify x in place before backward and backward sees it.
* ``backward(dy, out=None)`` returns ``dx`` for the last forward; ``out`` may
  be ``dy`` itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import _backend
from ._backend import Backend, Param
from ._validate import (
    as_affine,
    as_alpha,
    as_beta,
    as_eps,
    as_backward,
    as_forward,
    as_input,
    check_channels,
    float_dtype,
    rows,
)
from .reference import sigmoid, softplus, softplus_inverse

Array = NDArray[np.floating]


class Module:
    """Base of the layers: parameters, gradients, the forward cache."""

    def __init__(self, C: int, dtype: DTypeLike) -> None:
        self.num_channels: int = check_channels(C)
        self.dtype: np.dtype[Any] = float_dtype(dtype, "the layer's dtype")
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        self._x: Array | None = None  # (rows, C) input of the last forward
        self._shape: tuple[int, ...] = ()
        # (weight, bias, backend) last handed to a backend, and (backend,
        # what its param() made of them) (see _affine)
        self._affine_key: tuple[Any, ...] = (None, None, None)
        self._affine_params: tuple[Any, Param, Param] = (None, None, None)

    def _add_param(self, name: str, value: Array) -> None:
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)

    # ------------------------------------------------------------ public

    def __call__(self, x: ArrayLike, out: Array | None = None) -> Array:
        return self.forward(x, out)

    def forward(self, x: ArrayLike, out: Array | None = None) -> Array:
        """``y = layer(x)``; caches what backward needs. ``out`` may be x."""
        x, y, inplace = as_forward(x, out, self._check_input)
        shape = x.shape
        if x.dtype is not self.dtype or shape[-1] != self.num_channels:
            self._check_input(x)  # raises, naming what is wrong
        x2, y2 = (x, y) if len(shape) == 2 else (rows(x), rows(y))
        if inplace:
            x2 = x2.copy()  # keep the input for backward
        self._x = None  # a forward that fails leaves backward nothing stale
        self._forward(x2, y2)
        self._x, self._shape = x2, shape
        return y

    def backward(self, dy: ArrayLike, out: Array | None = None) -> Array:
        """``dx`` for the last forward; overwrites ``grads`` (no accumulation).

        ``dy`` has the shape and dtype of that forward's x; ``out`` may be dy.
        """
        if self._x is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() called before forward(): "
                f"there is no input to differentiate at"
            )
        dy, dx = as_backward(dy, out, self._x, self._shape)
        self._backward(rows(dy), self._x, rows(dx))
        return dx

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()}, dtype={self.dtype.name})"

    # ------------------------------------------------------------ helpers

    def _check_input(self, x: ArrayLike) -> Array:
        """x as :func:`as_input` makes it, of the layer's dtype and C."""
        x = as_input(x)
        if x.dtype is not self.dtype and x.dtype != self.dtype:
            raise TypeError(
                f"{self!r} got x of dtype {x.dtype}; the layer's parameters are "
                f"{self.dtype} (no silent casts: build the layer with dtype={x.dtype.name})"
            )
        if x.shape[-1] != self.num_channels:
            raise ValueError(
                f"{self!r} got x of shape {x.shape}: {x.shape[-1]} channels on the last "
                f"axis, but the layer was built for C = {self.num_channels}"
            )
        return x

    def _affine(self) -> tuple[Backend, Param, Param]:
        """The active backend, and (weight, bias) as read now, as that backend
        takes them (bias: None when the layer has none).

        Checked and converted (``be.param``) when these array objects are new
        to the layer, then reused while they stay in ``params``: the C
        backend's conversion costs as much as a row of the kernel's work.
        """
        be = _backend.active()
        w, b = self.params["weight"], self.params.get("bias")
        key = self._affine_key
        if w is key[0] and b is key[1] and be is key[2]:
            return self._affine_params
        wc, bc = as_affine(w, b, self.dtype, self.num_channels)
        converted = be, be.param(wc), be.param(bc)
        if wc is w and bc is b:  # no copy was made: the arrays themselves
            self._affine_key, self._affine_params = (w, b, be), converted
        return converted

    def _dbias(self) -> Array:
        """Where backward writes db: grads["bias"], or scratch when bias=False."""
        if "bias" in self.grads:
            return self.grads["bias"]
        return np.empty(self.num_channels, self.dtype)

    def _describe(self) -> str:
        return f"{self.num_channels}"

    def _forward(self, x: Array, y: Array) -> None:
        raise NotImplementedError

    def _backward(self, dy: Array, x: Array, dx: Array) -> None:
        raise NotImplementedError


class LayerNorm(Module):
    """LayerNorm over the last axis: ``xh = (x - mu) * r``, ``y = xh * w + b``.

    ``r = 1/sqrt(var + eps)`` with the population variance; forward saves
    ``mean`` and ``rstd`` per row for backward (one ``(2, rows)`` array).
    ``params``/``grads``: ``weight`` and (``bias=True``) ``bias``.
    """

    def __init__(self, C: int, eps: float = 1e-5, bias: bool = True,
                 dtype: DTypeLike = np.float32) -> None:
        super().__init__(C, dtype)
        self.eps = as_eps(eps)
        self._add_param("weight", np.ones(self.num_channels, self.dtype))
        if bias:
            self._add_param("bias", np.zeros(self.num_channels, self.dtype))
        self._stats = np.empty((2, 0), self.dtype)

    def _forward(self, x: Array, y: Array) -> None:
        be, w, b = self._affine()
        stats = self._stats  # mean, rstd; only the last forward's are kept
        if stats.shape[1] != x.shape[0]:
            stats = self._stats = np.empty((2, x.shape[0]), self.dtype)
        be.layer_norm_fwd(x, w, b, self.eps, y, stats)

    def _backward(self, dy: Array, x: Array, dx: Array) -> None:
        be, w, _ = self._affine()
        be.layer_norm_bwd(dy, x, self._stats, w, dx, self.grads["weight"], self._dbias())

    def _describe(self) -> str:
        return f"{self.num_channels}, eps={self.eps:g}, bias={'bias' in self.params}"


class RMSNorm(Module):
    """RMSNorm over the last axis: ``r = 1/sqrt(<x^2> + eps)``, ``y = x * r * w``.

    Forward saves ``rstd`` per row. ``params``/``grads``: ``weight``.
    """

    def __init__(self, C: int, eps: float = 1e-6, dtype: DTypeLike = np.float32) -> None:
        super().__init__(C, dtype)
        self.eps = as_eps(eps)
        self._add_param("weight", np.ones(self.num_channels, self.dtype))
        self._rstd = np.empty(0, self.dtype)

    def _forward(self, x: Array, y: Array) -> None:
        be, w, _ = self._affine()
        rstd = self._rstd  # only the last forward's is kept
        if rstd.shape[0] != x.shape[0]:
            rstd = self._rstd = np.empty(x.shape[0], self.dtype)
        be.rms_norm_fwd(x, w, self.eps, y, rstd)

    def _backward(self, dy: Array, x: Array, dx: Array) -> None:
        be, w, _ = self._affine()
        be.rms_norm_bwd(dy, x, self._rstd, w, dx, self.grads["weight"])

    def _describe(self) -> str:
        return f"{self.num_channels}, eps={self.eps:g}"


class _ScalarGated(Module):
    """DyT/DyISRU: one learnable scalar (``alpha``/``beta``), weight, bias.

    With ``softplus=True`` the parameter is ``<name>_raw`` and the effective
    scalar is ``softplus(raw)``, positive throughout training; the given
    initial value is the *effective* one, stored as ``softplus_inverse(v0)``.
    Its gradient is ``d raw = d scalar * sigmoid(raw)``.
    """

    _scalar: str  # "alpha" or "beta"

    def __init__(self, C: int, v0: float, bias: bool, softplus: bool,
                 dtype: DTypeLike) -> None:
        super().__init__(C, dtype)
        self.softplus = bool(softplus)
        if self.softplus:
            if not v0 > 0.0:
                raise ValueError(
                    f"{self._scalar}0 must be > 0 with softplus=True "
                    f"(softplus only reaches positive values); got {v0!r}"
                )
            self._add_param(self._scalar + "_raw", np.array(softplus_inverse(v0), self.dtype))
        else:
            self._add_param(self._scalar, np.array(v0, self.dtype))
        self._add_param("weight", np.ones(self.num_channels, self.dtype))
        if bias:
            self._add_param("bias", np.zeros(self.num_channels, self.dtype))

    def _value(self) -> float:
        """The effective scalar, as read from ``params`` now (unchecked)."""
        if self.softplus:
            return float(softplus(self.params[self._scalar + "_raw"]))
        return float(self.params[self._scalar])

    def _set_scalar_grad(self, d: float) -> None:
        if self.softplus:
            name = self._scalar + "_raw"
            self.grads[name][...] = d * sigmoid(self.params[name])
        else:
            self.grads[self._scalar][...] = d

    def _describe(self) -> str:
        sp = ", softplus=True" if self.softplus else ""
        return (f"{self.num_channels}, {self._scalar}={self._value():.6g}, "
                f"bias={'bias' in self.params}{sp}")


class DyT(_ScalarGated):
    """Dynamic Tanh: ``y = w * tanh(alpha * x) + b``, element-wise.

    ``params``/``grads``: ``alpha`` (0-d; ``alpha_raw`` with ``softplus=True``,
    ``alpha = softplus(alpha_raw)``), ``weight``, and (``bias=True``) ``bias``.
    ``alpha0`` is the effective initial value (0.5 by default).
    """

    _scalar = "alpha"

    def __init__(self, C: int, alpha0: float = 0.5, bias: bool = True,
                 softplus: bool = False, dtype: DTypeLike = np.float32) -> None:
        super().__init__(C, as_alpha(alpha0), bias, softplus, dtype)

    @property
    def alpha(self) -> float:
        """The effective alpha (``softplus(alpha_raw)`` with ``softplus=True``)."""
        return as_alpha(self._value())

    def _forward(self, x: Array, y: Array) -> None:
        be, w, b = self._affine()
        be.dyt_fwd(x, self.alpha, w, b, y)

    def _backward(self, dy: Array, x: Array, dx: Array) -> None:
        be, w, _ = self._affine()
        dalpha = be.dyt_bwd(dy, x, self.alpha, w, dx, self.grads["weight"], self._dbias())
        self._set_scalar_grad(dalpha)


class DyISRU(_ScalarGated):
    """Dynamic Inverse Square Root Unit: ``y = w * x / sqrt(beta + eps + x^2) + b``.

    ``params``/``grads``: ``beta`` (0-d, >= 0; ``beta_raw`` with
    ``softplus=True``, ``beta = softplus(beta_raw)``), ``weight``, and
    (``bias=True``) ``bias``. ``beta0`` is the effective initial value
    (``4.0 = 1/0.5^2`` by default: the slope of DyT with ``alpha0 = 0.5``).
    """

    _scalar = "beta"

    def __init__(self, C: int, beta0: float = 4.0, bias: bool = True, eps: float = 1e-5,
                 softplus: bool = False, dtype: DTypeLike = np.float32) -> None:
        super().__init__(C, as_beta(beta0), bias, softplus, dtype)
        self.eps = as_eps(eps)

    @property
    def beta(self) -> float:
        """The effective beta (``softplus(beta_raw)`` with ``softplus=True``)."""
        return as_beta(self._value())

    def _forward(self, x: Array, y: Array) -> None:
        be, w, b = self._affine()
        be.dyisru_fwd(x, self.beta, w, b, self.eps, y)

    def _backward(self, dy: Array, x: Array, dx: Array) -> None:
        be, w, _ = self._affine()
        dbeta = be.dyisru_bwd(dy, x, self.beta, w, self.eps, dx, self.grads["weight"],
                              self._dbias())
        self._set_scalar_grad(dbeta)

    def _describe(self) -> str:
        return f"{super()._describe()}, eps={self.eps:g}"
