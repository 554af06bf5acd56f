"""Layers: own their parameters, cache what backward needs, fill ``grads``.

One generic :class:`Module` does the work for every op of the table
(:mod:`dynorm.ops`); :class:`LayerNorm`, :class:`RMSNorm`, :class:`DyT` and
:class:`DyISRU` are made from their table entries by :func:`layer_class`,
each with a real constructor signature and docstring.

Common contract (docs/design.md §6):

* ``params``: name -> ndarray of the layer's dtype. ``weight`` (ones) and
  ``bias`` (zeros) have shape ``(C,)``; a learnable scalar (DyT's ``alpha``,
  DyISRU's ``beta``) is a 0-d array (``alpha_raw``/``beta_raw`` with
  ``softplus=True``). Optimizers may update them in place
  (``p[...] -= lr * g``): every forward and backward reads them afresh.
  ``params[name] = new_array`` replaces one (checked on the next call). A
  weight or bias is checked and handed to the backend once per array object:
  changing its ``shape`` or ``dtype`` attribute in place afterwards goes
  unseen (its data is still read as the layer's C values), so replace the
  array instead.
* ``grads``: the same keys and shapes. **Each backward overwrites them, in
  place; gradients are not accumulated across calls.** Copy them to keep them.
* ``forward(x, out=None)`` (also ``layer(x)``) takes x of the layer's dtype
  with ``C`` channels on the last axis, any leading shape, and caches x (a
  reference to its C-contiguous view; a copy when ``out`` is x itself, or x is
  not C-contiguous and aligned). Modify x in place before backward and
  backward sees it.
* ``backward(dy, out=None)`` returns ``dx`` for the last forward; ``out`` may
  be ``dy`` itself. Neither ``out`` may overlap a parameter or gradient.
* A layer pickles and deep-copies at any time, on any backend, and unpickles
  where the C extension is missing: what it caches for the backend is
  dropped from its state and rebuilt on the next call.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import is_
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import _backend
from ._backend import Backend, Param
from ._validate import (
    as_affine,
    as_backward,
    as_forward,
    as_input,
    check_channels,
    check_not_aliasing,
    float_dtype,
    rows,
)
from .ops import OPS, Op, Scalar
from .reference import sigmoid, softplus, softplus_inverse

Array = NDArray[np.floating]

#: What a layer keeps for its backend between calls: not part of its state.
_CACHES = ("_fwd_cache", "_bwd_cache")


class Module:
    """Base of the layers: parameters, gradients, the forward cache, and the
    forward and backward of the class's op (``op``, a :class:`~dynorm.ops.Op`)."""

    op: ClassVar[Op]
    #: The checks of the op's learnable and constant scalars, in order.
    _learnable_checks: ClassVar[tuple[Callable[[Any], float], ...]] = ()
    _constant_checks: ClassVar[tuple[Callable[[Any], float], ...]] = ()

    def __init__(self, C: int, dtype: DTypeLike) -> None:
        self.num_channels: int = check_channels(C)
        self.dtype: np.dtype[Any] = float_dtype(dtype, "the layer's dtype")
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        self.softplus = False
        self._x: Array | None = None  # (rows, C) input of the last forward
        self._shape: tuple[int, ...] = ()
        self._stats: Array | None = None  # (len(op.stats), rows) of the last forward
        self._fwd_cache: tuple[Any, ...] | None = None
        self._bwd_cache: tuple[Any, ...] | None = None
        self._grad_names: tuple[str, ...] = ("weight", "bias")

    def _setup(self, C: int, dtype: DTypeLike, initial: tuple[Any, ...], bias: bool,
               softplus: bool, constants: tuple[Any, ...]) -> None:
        """The op's parameters: learnable scalars at their ``initial`` values
        (effective values; stored as ``softplus_inverse(v)`` in ``<name>_raw``
        with ``softplus``), weight, bias (if the op and ``bias`` say so), and
        the ``constants`` as attributes named after them."""
        op = self.op
        initial = tuple(check(v) for check, v in zip(self._learnable_checks, initial))
        constants = tuple(check(v) for check, v in zip(self._constant_checks, constants))
        Module.__init__(self, C, dtype)
        self.softplus = bool(softplus)
        for scalar, v in zip(op.learnable, initial):
            if self.softplus:
                if not v > 0.0:
                    raise ValueError(
                        f"{scalar.name}0 must be > 0 with softplus=True "
                        f"(softplus only reaches positive values); got {v!r}"
                    )
                self._add_param(scalar.name + "_raw", np.array(softplus_inverse(v), self.dtype))
            else:
                self._add_param(scalar.name, np.array(v, self.dtype))
        self._add_param("weight", np.ones(self.num_channels, self.dtype))
        if op.bias and bias:
            self._add_param("bias", np.zeros(self.num_channels, self.dtype))
        for scalar, v in zip(op.constants, constants):
            setattr(self, scalar.name, v)
        if op.stats:
            self._stats = np.empty((len(op.stats), 0), self.dtype)
        raw = "_raw" if self.softplus else ""
        # the gradients' names in the backend's order: weight, bias (absent
        # from grads without one), then the learnable scalars'
        self._grad_names = ("weight", "bias", *(s.name + raw for s in op.learnable))

    def _add_param(self, name: str, value: Array) -> None:
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)

    # ------------------------------------------------------------ public

    def __call__(self, x: ArrayLike, out: Array | None = None) -> Array:
        return self.forward(x, out)

    def forward(self, x: ArrayLike, out: Array | None = None) -> Array:
        """``y = layer(x)``; caches what backward needs.

        Parameters
        ----------
        x : array_like
            The layer's dtype, ``C`` channels on the last axis, any leading shape.
        out : ndarray, optional
            Where to write y: C-contiguous, of x's shape and dtype; may be x.

        Returns
        -------
        ndarray
            y, of x's shape and dtype (``out`` when given).

        Raises
        ------
        TypeError
            x (or out) of another dtype than the layer's.
        ValueError
            x with another C; out of another shape, not C-contiguous, aligned
            and writeable, overlapping x without being x, or overlapping a
            parameter or gradient; a learnable scalar outside its domain.
        """
        x, y, inplace = as_forward(x, out, self._check_input)
        shape = x.shape
        if x.dtype is not self.dtype or shape[-1] != self.num_channels:
            self._check_input(x)  # raises, naming what is wrong
        if out is not None:
            self._check_out(y)
        x2, y2 = (x, y) if len(shape) == 2 else (rows(x), rows(y))
        if inplace:
            x2 = x2.copy()  # keep the input for backward
        self._x = None  # a forward that fails leaves backward nothing stale
        s = self._scalars()
        stats = self._stats  # only the last forward's are kept
        if stats is not None and stats.shape[1] != x2.shape[0]:
            self._stats = np.empty((stats.shape[0], x2.shape[0]), self.dtype)
        be, w, b, stats = self._affine()
        be.forward(self.op, x2, w, b, s, y2, stats)
        self._x, self._shape = x2, shape
        return y

    def backward(self, dy: ArrayLike, out: Array | None = None) -> Array:
        """``dx`` for the last forward; overwrites ``grads`` (no accumulation).

        Parameters
        ----------
        dy : array_like
            The shape and dtype of that forward's x.
        out : ndarray, optional
            Where to write dx: C-contiguous, of dy's shape and dtype; may be dy.

        Returns
        -------
        ndarray
            dx, of dy's shape and dtype (``out`` when given).

        Raises
        ------
        RuntimeError
            No forward before (or the last one failed).
        TypeError, ValueError
            dy or out as :meth:`forward` describes for x and out; out
            overlapping the saved input.
        """
        x = self._x
        if x is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() called before forward(): "
                f"there is no input to differentiate at"
            )
        dy, dx = as_backward(dy, out, x, self._shape)
        if out is not None:
            self._check_out(dx)
        be, w, stats, dw, db, ds, finish = self._targets()
        be.backward(self.op, rows(dy), x, stats, w, self._scalars(), rows(dx), dw, db, ds)
        if finish is not None:
            finish()
        return dx

    def __repr__(self) -> str:
        args = [str(self.num_channels)]
        learnable = dict(zip((s.name for s in self.op.learnable), self._learnable_values()))
        for arg in self.op.constructor_args:
            if arg == "bias":
                args.append(f"bias={'bias' in self.params}")
            elif arg == "softplus":
                if self.softplus:
                    args.append("softplus=True")
            elif arg.endswith("0") and arg[:-1] in learnable:
                args.append(f"{arg[:-1]}={learnable[arg[:-1]]:.6g}")
            else:
                args.append(f"{arg}={getattr(self, arg):g}")
        return f"{type(self).__name__}({', '.join(args)}, dtype={self.dtype.name})"

    def __getstate__(self) -> dict[str, Any]:
        # the backend's forms of the arrays (C pointers) neither pickle nor
        # belong to a copy: they are rebuilt on the next call
        state = self.__dict__.copy()
        for name in _CACHES:
            state[name] = None
        return state

    # ------------------------------------------------------------ helpers

    def _scalars(self) -> tuple[float, ...]:
        """The op's scalars as read now, checked (defined per op)."""
        raise NotImplementedError

    def _learnable_values(self) -> tuple[float, ...]:
        """The effective learnable scalars as read from ``params`` now (unchecked)."""
        if self.softplus:
            return tuple(float(softplus(self.params[s.name + "_raw"])) for s in self.op.learnable)
        return tuple(float(self.params[s.name]) for s in self.op.learnable)

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

    def _check_out(self, out: Array) -> None:
        """ValueError if ``out`` overlaps a parameter or gradient. When out
        owns its memory only out itself and its views (whose ``base`` NumPy
        points at the owner) can: the usual call is settled by identity."""
        if out.base is None and out.flags.owndata:
            for arrays in (self.params, self.grads):
                for a in arrays.values():
                    if a is out or getattr(a, "base", None) is out:
                        break
                else:
                    continue
                break
            else:
                return
        check_not_aliasing(out, {"parameter": self.params, "gradient": self.grads},
                           type(self).__name__)

    def _affine(self) -> tuple[Backend, Param, Param, Param]:
        """The active backend, and (weight, bias, saved statistics) as read
        now, as that backend takes them (None: the layer has none).

        Checked and converted (``be.param``) when these array objects are new
        to the layer, then reused while they stay the layer's: the C
        backend's conversion costs as much as a row of the kernel's work.
        """
        be = _backend._active
        w, b, stats = self.params["weight"], self.params.get("bias"), self._stats
        c = self._fwd_cache
        if c is not None and w is c[0] and b is c[1] and stats is c[2] and be is c[3]:
            return c[4]
        wc, bc = as_affine(w, b, self.dtype, self.num_channels)
        converted = be, be.param(wc), be.param(bc), None if stats is None else be.param(stats)
        if wc is w and bc is b:  # no copy was made: the arrays themselves
            self._fwd_cache = (w, b, stats, be, converted)
        return converted

    def _targets(self) -> tuple[Backend, Param, Param, Param, Param, tuple[Param, ...],
                                Callable[[], None] | None]:
        """``(be, w, stats, dw, db, ds, finish)``: the active backend; the
        weight, the saved statistics and the gradient targets as it takes
        them; and what to call after the
        backward (None: nothing), which completes the gradients the backend
        could not write in place.

        A gradient array of the layer's dtype, C-contiguous and writeable is
        written by the backend itself; any other array put in ``grads`` gets
        the gradient from a scratch array; a ``softplus`` scalar's gradient
        ``d raw = d scalar * sigmoid(raw)`` from a scratch one. Reused, as
        :meth:`_affine`'s, while the arrays stay the same objects.
        """
        be = _backend._active
        w, stats, g = self.params["weight"], self._stats, self.grads
        names = self._grad_names
        current = [g.get(n) for n in names]
        c = self._bwd_cache
        if (c is not None and w is c[0] and stats is c[1] and be is c[2]
                and all(map(is_, current, c[3]))):
            return c[4]
        wc, _ = as_affine(w, None, self.dtype, self.num_channels)
        targets: list[Array | None] = []
        fixes: list[Callable[[], None]] = []
        for name, a in zip(names, current):
            if a is None:
                targets.append(None)
                continue
            shape = () if name not in ("weight", "bias") else (self.num_channels,)
            if name.endswith("_raw"):
                t = np.empty((), self.dtype)
                fixes.append(_softplus_grad(a, self.params, name, t))
            elif (type(a) is np.ndarray and a.dtype is self.dtype and a.shape == shape
                  and a.flags.carray):
                t = a
            else:
                t = np.empty(shape, self.dtype)
                fixes.append(_assign(a, t))
            targets.append(t)
        dw, db, *ds = (be.param(t) for t in targets)
        finish = None if not fixes else (fixes[0] if len(fixes) == 1 else _all(fixes))
        st = None if stats is None else be.param(stats)
        result = be, be.param(wc), st, dw, db, tuple(ds), finish
        if wc is w:
            self._bwd_cache = (w, stats, be, current, result)
        return result


def _softplus_grad(target: Array, params: dict[str, Array], name: str,
                   d: Array) -> Callable[[], None]:
    """``target[...] = d * sigmoid(params[name])``: the chain rule through softplus."""
    def finish() -> None:
        target[...] = d * sigmoid(params[name])
    return finish


def _assign(target: Array, source: Array) -> Callable[[], None]:
    def finish() -> None:
        target[...] = source
    return finish


def _all(fns: list[Callable[[], None]]) -> Callable[[], None]:
    def finish() -> None:
        for f in fns:
            f()
    return finish


# ------------------------------------------------------------ generation


def _layer_doc(op: Op) -> str:
    lines = [f"{op.summary}: ``{op.formula}``.", ""]
    if op.stats:
        lines += [f"Forward saves {' and '.join(f'``{s}``' for s in op.stats)} per row "
                  f"for backward.", ""]
    lines += ["Parameters", "----------", "C : int", "    The number of channels (x's last axis)."]
    learnable = {s.name + "0": s for s in op.learnable}
    constants = {s.name: s for s in op.constants}
    for arg in op.constructor_args:
        if arg in learnable:
            s = learnable[arg]
            dom = "finite" if s.domain == "finite" else "finite and >= 0"
            lines += [f"{arg} : float, default {s.default!r}",
                      f"    The initial (effective) ``{s.name}``: {s.doc}; {dom}."]
        elif arg == "bias":
            lines += ["bias : bool, default True", "    Whether the layer has a bias (``b = 0`` "
                      "otherwise)."]
        elif arg == "softplus":
            names = ", ".join(f"``{s.name}``" for s in op.learnable)
            lines += ["softplus : bool, default False",
                      f"    Learn {names} through ``<name>_raw`` with ``<name> = "
                      "softplus(<name>_raw)``,", "    positive throughout training."]
        else:
            s = constants[arg]
            lines += [f"{arg} : float, default {s.default!r}",
                      f"    {s.doc[0].upper()}{s.doc[1:]}; finite and >= 0."]
    lines += ["dtype : float32 or float64, default float32", "    Of the parameters and of x.",
              "", "Raises", "------", "TypeError",
              "    C not an integer; dtype not float32 or float64.", "ValueError",
              "    C < 1; a scalar outside its domain.", "", "Notes", "-----",
              "``params``/``grads``: " + ", ".join(
                  [f"``{s.name}`` (0-d)" for s in op.learnable] + ["``weight``"]
                  + (["``bias`` (with ``bias=True``)"] if op.bias else [])) + "."]
    return "\n".join(lines)


def layer_class(op: Op) -> type[Module]:
    """The layer class of ``op``: a :class:`Module` subclass named ``op.layer``
    with a constructor of the op's arguments (``op.constructor_args``), a
    property per learnable scalar, and its docstring.

    The constructor and ``_scalars`` are compiled from generated source, as
    :mod:`dataclasses` does: a real signature for ``help()`` and
    ``inspect``, and no per-call loop over the table.
    """
    learnable = {s.name + "0": s for s in op.learnable}
    constants = {s.name: s for s in op.constants}
    params = []
    for arg in op.constructor_args:
        if arg in learnable:
            params.append(f"{arg}: float = {learnable[arg].default!r}")
        elif arg in ("bias", "softplus"):
            params.append(f"{arg}: bool = {arg == 'bias'}")
        else:
            params.append(f"{arg}: float = {constants[arg].default!r}")
    initial = "".join(f"{a}, " for a in learnable)
    consts = "".join(f"{a}, " for a in constants)
    bias = "bias" if "bias" in op.constructor_args else "False"
    sp = "softplus" if "softplus" in op.constructor_args else "False"
    scalars = []
    for k, s in enumerate(op.scalars):
        if s.learnable:
            scalars.append(f"_c{k}(_softplus_value(p['{s.name}_raw']) if sp "
                           f"else float(p['{s.name}']))")
        else:
            scalars.append(f"self.{s.name}")
    reads = "\n    p, sp = self.params, self.softplus" if op.learnable else ""
    source = f"""
def __init__(self, C: int, {', '.join(params + ['dtype: DTypeLike = np.float32'])}) -> None:
    self._setup(C, dtype, ({initial}), {bias}, {sp}, ({consts}))

def _scalars(self) -> tuple[float, ...]:{reads}
    return ({''.join(a + ', ' for a in scalars)})
"""
    namespace: dict[str, Any] = {
        "np": np, "DTypeLike": DTypeLike, "_softplus_value": _softplus_value,
        **{f"_c{k}": op.checker(s) for k, s in enumerate(op.scalars)},
    }
    exec(compile(source, f"<dynorm.layers: {op.layer}>", "exec"), namespace)
    body: dict[str, Any] = {
        "__module__": __name__,
        "__qualname__": op.layer,
        "__doc__": _layer_doc(op),
        "op": op,
        "_learnable_checks": tuple(op.checker(s) for s in op.learnable),
        "_constant_checks": tuple(op.checker(s) for s in op.constants),
        "__init__": namespace["__init__"],
        "_scalars": namespace["_scalars"],
    }
    for k, s in enumerate(op.learnable):
        body[s.name] = _learnable_property(s, k, body["_learnable_checks"][k])
    cls = type(op.layer, (Module,), body)
    for name in ("__init__", "_scalars"):
        fn = body[name]
        fn.__module__, fn.__qualname__ = __name__, f"{op.layer}.{name}"
    return cls


def _softplus_value(raw: Array) -> float:
    return float(softplus(raw))


def _learnable_property(scalar: Scalar, k: int, check: Callable[[Any], float]) -> property:
    def get(self: Module) -> float:
        return check(self._learnable_values()[k])
    get.__doc__ = (f"The effective {scalar.name} (``softplus({scalar.name}_raw)`` with "
                   f"``softplus=True``).")
    return property(get)


#: The layer classes by op name.
LAYERS: dict[str, type[Module]] = {op.name: layer_class(op) for op in OPS}
globals().update({cls.__name__: cls for cls in LAYERS.values()})

__all__ = ["Module", "LAYERS", "layer_class", *(cls.__name__ for cls in LAYERS.values())]
