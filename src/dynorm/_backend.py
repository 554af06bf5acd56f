"""Backend registry: which implementation runs the kernels, on which ISA.

A *backend* is an object with the methods of :class:`Backend`: one
``forward`` and one ``backward`` for every op of the table
(:mod:`dynorm.ops`), told which op by its :class:`~dynorm.ops.Op`. They
receive validated, C-contiguous, aligned 2-D arrays ``(rows, C)`` of one
dtype (float32 or float64) and write into preallocated outputs:

* ``w``, ``b`` (weight, bias), ``stats`` and the gradient targets ``dw``,
  ``db`` and ``ds`` come as the backend's own ``param(a)`` made them from a
  C-contiguous array of the dtype or None: None means weight 1 and bias 0,
  no statistics, or gradient not wanted. A caller converts an array that
  persists across calls once and reuses the result while the array is the
  same object (the NumPy backend keeps the array itself; the C backend a
  pointer to its data): at (8, 768) each conversion costs about 5% of a call.
* ``s``: the op's scalars as floats, in ``op.scalars`` order.
* ``stats``: the saved statistics, one array of shape ``(len(op.stats),
  rows)`` (row k is ``op.stats[k]``), or None for an op without statistics
  (and in a forward that no backward follows).
* ``w``, ``b``, ``dw``, ``db`` have shape ``(C,)``; ``ds`` holds one 0-d
  target per learnable scalar of the op, in order.
* ``y`` may be ``x`` itself and ``dx`` may be ``dy`` itself (in place).
  Parameter gradients are overwritten, never accumulated.

Each backend also reports its instruction sets: ``isas()`` (available, in
ascending order: the best last), ``current_isa()`` and ``set_isa(name)``.
The NumPy backend has one, ``"numpy"``; the C backend brings its own
(scalar, avx2, ...). ``"auto"`` names the best one wherever an ISA is named.

State is module-level, i.e. process-wide (not per thread): ``use_backend`` and
``use_isa`` switch it for the whole process, as the C library's dispatch table
is process-wide too. Switch it from one thread at a time.

A new backend plugs in with :func:`register_backend` (it becomes the default).
``DYNORM_ISA`` is applied once all backends are registered, at the end of
``import dynorm`` (:func:`apply_env_isa`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from .ops import Op

Array = NDArray[np.floating]
#: An array as a backend takes it (what its ``param`` returned), or None.
Param = Any


class Backend(Protocol):
    """What a backend provides (see the module docstring for the contract)."""

    def isas(self) -> list[str]: ...
    def current_isa(self) -> str: ...
    def set_isa(self, name: str) -> None: ...

    def param(self, a: Array | None) -> Param:
        """``a`` (or None) in the form ``forward``/``backward`` take it."""

    def forward(self, op: Op, x: Array, w: Param, b: Param, s: tuple[float, ...],
                y: Array, stats: Param) -> None:
        """``y = op(x)``; the saved statistics into ``stats`` unless None."""

    def backward(self, op: Op, dy: Array, x: Array, stats: Param, w: Param,
                 s: tuple[float, ...], dx: Array, dw: Param, db: Param,
                 ds: tuple[Param, ...]) -> None:
        """``dx`` and the parameter gradients (the targets not None) of the
        forward of ``x`` that saved ``stats``."""


class NumpyBackend:
    """The reference itself (each op's ``forward``/``backward`` in the table),
    written into the caller's outputs.

    Each call computes the whole result before writing, so in-place calls
    (``y is x``, ``dx is dy``) are safe. Floating-point warnings are
    silenced: NaN/Inf propagate as in the math.
    """

    def isas(self) -> list[str]:
        return ["numpy"]

    def current_isa(self) -> str:
        return "numpy"

    def set_isa(self, name: str) -> None:
        if name not in ("numpy", "auto"):
            raise ValueError(f"the numpy backend has one ISA, 'numpy'; got {name!r}")

    def param(self, a: Array | None) -> Array | None:
        return a

    def forward(self, op: Op, x: Array, w: Array | None, b: Array | None,
                s: tuple[float, ...], y: Array, stats: Array | None) -> None:
        with np.errstate(all="ignore"):
            y[...], *st = op.forward(x, w, b, *s)
        if stats is not None:
            for k, v in enumerate(st):
                stats[k] = v

    def backward(self, op: Op, dy: Array, x: Array, stats: Array | None, w: Array | None,
                 s: tuple[float, ...], dx: Array, dw: Array | None, db: Array | None,
                 ds: tuple[Array | None, ...]) -> None:
        with np.errstate(all="ignore"):
            gx, gw, gb, *gs = op.backward(dy, x, () if stats is None else tuple(stats), w, *s)
        dx[...] = gx
        for target, g in ((dw, gw), (db, gb), *zip(ds, gs)):
            if target is not None:
                target[...] = g


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
    """Force the active backend onto ISA ``name`` (``"auto"``: the best one):
    a plain call, or ``with use_isa("scalar"): ...`` for a block (restored on
    exit). Raises ValueError for an ISA the active backend cannot run here."""
    backend = _active
    choices = available_isas()
    if name == "auto":
        name = choices[-1]
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
    registered. ``"auto"`` is the best ISA; a name the active backend cannot
    run here gets a warning naming the variable and the accepted values, and
    the best ISA is used: importing never fails because of the environment.
    """
    name = os.environ.get("DYNORM_ISA", "").strip()
    if not name:
        return
    try:
        use_isa(name)
    except ValueError:
        accepted = ", ".join(["auto", *available_isas()])
        warnings.warn(
            f"environment variable DYNORM_ISA={name!r} is not an instruction set the "
            f"{active_name()!r} backend runs here (accepted: {accepted}); using 'auto'",
            RuntimeWarning, stacklevel=2,
        )
        use_isa("auto")
