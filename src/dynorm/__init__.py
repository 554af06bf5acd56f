"""dynorm: layer normalization and its element-wise replacements in NumPy.

LayerNorm, RMSNorm, Dynamic Tanh (DyT) and the Dynamic Inverse Square Root
Unit (DyISRU), with hand-written forward and backward passes. The NumPy
reference (:mod:`dynorm.reference`) is the specification; the op table
(:mod:`dynorm.ops`) declares each op once, and the layers, the functional
API and the backends are derived from it. Faster backends plug in through
:mod:`dynorm._backend` and must agree with the reference.
"""

from __future__ import annotations

from . import reference
from ._backend import available_isas, backends, isa, use_backend, use_isa
from .functional import FUNCTIONS as _FUNCTIONS
from .layers import LAYERS as _LAYERS
from .layers import Module

__version__ = "0.1.0"

# every op's function and layer class, by its own name (dn.dyt, dn.DyT)
globals().update(_FUNCTIONS)
globals().update({cls.__name__: cls for cls in _LAYERS.values()})

__all__ = [
    *_FUNCTIONS, *(cls.__name__ for cls in _LAYERS.values()), "Module",
    "backends", "use_backend", "isa", "available_isas", "use_isa",
    "num_threads", "set_num_threads",
    "reference", "__version__",
]

# The C core is the default wherever the extension was built; without it
# (an install that could not compile C) the NumPy reference runs everything.
try:
    from . import _cbackend
except ImportError:  # pragma: no cover - depends on the build
    def num_threads() -> int:
        """Threads a large call is split over: 1 without the C backend."""
        return 1

    def set_num_threads(n: int) -> int:
        """No effect without the C backend (the NumPy reference is serial)."""
        return 1
else:
    from ._backend import register_backend as _register_backend
    from ._cbackend import num_threads, set_num_threads

    _register_backend("c", _cbackend.CBackend())
    _cbackend._warn_bad_num_threads()


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    """``dynorm.theory`` (the paper's derivation and experiments) loads on
    first use, so ``import dynorm`` stays light."""
    if name == "theory":
        import importlib

        return importlib.import_module(".theory", __name__)
    raise AttributeError(f"module 'dynorm' has no attribute {name!r}")


# Backends register above this line (dynorm._backend.register_backend);
# DYNORM_ISA applies to the default one, once all are registered.
from ._backend import apply_env_isa as _apply_env_isa  # noqa: E402

_apply_env_isa()
