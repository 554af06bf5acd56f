"""Backend registry: which implementation runs the kernels, on which ISA.

A *backend* is an object with the methods of :class:`Backend`. They receive
validated, C-contiguous 2-D arrays ``(rows, C)`` of one dtype (float32 or
float64) and write into preallocated outputs. Weights and biases come as the
backend's own ``param(a)`` made them from a ``(C,)`` array or None (meaning 1
and 0): a caller converts a parameter once and keeps the result while the
array is the same object (the NumPy backend keeps the array itself; the C
backend a pointer to its data). The saved statistics: LayerNorm's ``stats``
is one C-contiguous array of shape ``(2, rows)``, mean in row 0 and rstd in
row 1 (one buffer, which the layer reuses from forward to forward: at
(8, 768) each array handed to C costs about 0.2 us, more than a row of the
kernel's work); RMSNorm's ``rstd`` has shape ``(rows,)``. Both may be None
in a forward that no backward follows. ``y`` may be ``x`` itself and ``dx``
may be ``dy`` itself (in place).
``dw``/``db`` always have shape ``(C,)`` and are overwritten (the caller may
discard them). ``dyt_bwd``/``dyisru_bwd`` return ``dalpha``/``dbeta``.

Each backend also reports its instruction sets: ``isas()`` (available, best
first), ``current_isa()`` and ``set_isa(name)``. The NumPy backend has one,
``"numpy"``; the C backend brings its own (scalar, avx2, ...).

State is module-level, i.e. process-wide (not per thread): ``use_backend`` and
``use_isa`` switch it for the whole process, as the C library's dispatch table
is process-wide too. Switch it from one thread at a time.

A new backend plugs in with :func:`register_backend` (it becomes the default).
``DYNORM_ISA`` is applied once all backends are registered, at the end of
``import dynorm`` (:func:`apply_env_isa`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from . import reference as ref

Array = NDArray[np.floating]
#: A weight or bias as a backend takes it (what its ``param`` returned).
Param = Any


class Backend(Protocol):
    """What a backend provides (see the module docstring for the contract)."""

    def isas(self) -> list[str]: ...
    def current_isa(self) -> str: ...
    def set_isa(self, name: str) -> None: ...

    def param(self, a: Array | None) -> Param: ...

    def layer_norm_fwd(self, x: Array, w: Param, b: Param, eps: float,
                       y: Array, stats: Array | None) -> None: ...
    def layer_norm_bwd(self, dy: Array, x: Array, stats: Array, w: Param,
                       dx: Array, dw: Array, db: Array) -> None: ...
    def rms_norm_fwd(self, x: Array, w: Param, eps: float,
                     y: Array, rstd: Array) -> None: ...
    def rms_norm_bwd(self, dy: Array, x: Array, rstd: Array, w: Param,
                     dx: Array, dw: Array) -> None: ...
    def dyt_fwd(self, x: Array, alpha: float, w: Param, b: Param,
                y: Array) -> None: ...
    def dyt_bwd(self, dy: Array, x: Array, alpha: float, w: Param,
                dx: Array, dw: Array, db: Array) -> float: ...
    def dyisru_fwd(self, x: Array, beta: float, w: Param, b: Param, eps: float,
                   y: Array) -> None: ...
    def dyisru_bwd(self, dy: Array, x: Array, beta: float, w: Param, eps: float,
                   dx: Array, dw: Array, db: Array) -> float: ...


class NumpyBackend:
    """The reference itself, written into the caller's outputs.

    Each method computes the whole result with :mod:`dynorm.reference` before
    writing, so in-place calls (``y is x``, ``dx is dy``) are safe.
    Floating-point warnings are silenced: NaN/Inf propagate as in the math.
    """

    def isas(self) -> list[str]:
        return ["numpy"]

    def current_isa(self) -> str:
        return "numpy"

    def set_isa(self, name: str) -> None:
        if name != "numpy":
            raise ValueError(f"the numpy backend has one ISA, 'numpy'; got {name!r}")

    def param(self, a: Array | None) -> Array | None:
        return a

    def layer_norm_fwd(self, x, w, b, eps, y, stats):  # type: ignore[no-untyped-def]
        with np.errstate(all="ignore"):
            y[...], m, r = ref.layer_norm_forward(x, w, b, eps)
        if stats is not None:
            stats[0], stats[1] = m, r

    def layer_norm_bwd(self, dy, x, stats, w, dx, dw, db):  # type: ignore[no-untyped-def]
        with np.errstate(all="ignore"):
            dx[...], dw[...], db[...] = ref.layer_norm_backward(dy, x, stats[0], stats[1], w)

    def rms_norm_fwd(self, x, w, eps, y, rstd):  # type: ignore[no-untyped-def]
        with np.errstate(all="ignore"):
            y[...], r = ref.rms_norm_forward(x, w, eps)
        if rstd is not None:
            rstd[...] = r

    def rms_norm_bwd(self, dy, x, rstd, w, dx, dw):  # type: ignore[no-untyped-def]
        with np.errstate(all="ignore"):
            dx[...], dw[...] = ref.rms_norm_backward(dy, x, rstd, w)

    def dyt_fwd(self, x, alpha, w, b, y):  # type: ignore[no-untyped-def]
        with np.errstate(all="ignore"):
            y[...] = ref.dyt_forward(x, alpha, w, b)

    def dyt_bwd(self, dy, x, alpha, w, dx, dw, db):  # type: ignore[no-untyped-def]
        with np.errstate(all="ignore"):
            dx[...], dalpha, dw[...], db[...] = ref.dyt_backward(dy, x, alpha, w)
        return dalpha

    def dyisru_fwd(self, x, beta, w, b, eps, y):  # type: ignore[no-untyped-def]
        with np.errstate(all="ignore"):
            y[...] = ref.dyisru_forward(x, beta, w, b, eps)

    def dyisru_bwd(self, dy, x, beta, w, eps, dx, dw, db):  # type: ignore[no-untyped-def]
        with np.errstate(all="ignore"):
            dx[...], dbeta, dw[...], db[...] = ref.dyisru_backward(dy, x, beta, w, eps)
        return dbeta


# ------------------------------------------------------------------ state

_registry: dict[str, Backend] = {"numpy": NumpyBackend()}
_default: str = "numpy"
_active: Backend = _registry["numpy"]


def active() -> Backend:
    """The backend that runs the kernels now."""
    return _active


def register_backend(name: str, backend: Backend, *, default: bool = True) -> None:
    """Add ``backend`` under ``name``; by default it becomes the default and active one."""
    global _default, _active
    _registry[name] = backend
    if default:
        _default, _active = name, backend


def backends() -> list[str]:
    """The registered backends' names, the default first (e.g. ``["c", "numpy"]``)."""
    return [_default] + [name for name in _registry if name != _default]


def active_name() -> str:
    """The name of the active backend."""
    return next(name for name, b in _registry.items() if b is _active)


class _Restore:
    """Returned by ``use_backend``/``use_isa``: the switch has happened already
    (a plain call keeps it); used as a context manager, it is undone on exit."""

    def __init__(self, undo: Callable[[], None]) -> None:
        self._undo = undo

    def __enter__(self) -> _Restore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._undo()


def use_backend(name: str) -> _Restore:
    """Make ``name`` the active backend: ``use_backend("numpy")`` for good, or
    ``with use_backend("numpy"): ...`` for a block (restored on exit)."""
    global _active
    if name not in _registry:
        raise ValueError(f"unknown backend {name!r}; choose from {backends()}")
    previous = _active

    def undo() -> None:
        global _active
        _active = previous

    _active = _registry[name]
    return _Restore(undo)


def isa() -> str:
    """The instruction set the active backend runs (``"numpy"`` for NumPy)."""
    return _active.current_isa()


def available_isas() -> list[str]:
    """The instruction sets the active backend can run on this machine."""
    return list(_active.isas())


def use_isa(name: str) -> _Restore:
    """Force the active backend onto ISA ``name``: a plain call, or
    ``with use_isa("scalar"): ...`` for a block (restored on exit)."""
    backend = _active
    choices = available_isas()
    if name not in choices:
        raise ValueError(
            f"unknown or unavailable ISA {name!r} for the {active_name()!r} backend; "
            f"choose from {choices}"
        )
    previous = backend.current_isa()
    backend.set_isa(name)
    return _Restore(lambda: backend.set_isa(previous))


def apply_env_isa() -> None:
    """Apply ``DYNORM_ISA`` (if set and non-empty) to the active backend.

    Called once at the end of ``import dynorm``, after every backend has been
    registered; an ISA the active backend cannot run is a ValueError.
    """
    name = os.environ.get("DYNORM_ISA", "").strip()
    if name:
        try:
            use_isa(name)
        except ValueError as e:
            raise ValueError(f"environment variable DYNORM_ISA: {e}") from None
