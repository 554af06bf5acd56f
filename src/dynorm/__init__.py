"""dynorm: layer normalization and its element-wise replacements in NumPy.

LayerNorm, RMSNorm, Dynamic Tanh (DyT) and the Dynamic Inverse Square Root
Unit (DyISRU), with hand-written forward and backward passes. The NumPy
reference (:mod:`dynorm.reference`) is the specification; faster backends
plug in through :mod:`dynorm._backend` and must agree with it.
"""

from __future__ import annotations

from . import reference
from ._backend import available_isas, backends, isa, use_backend, use_isa
from .functional import dyisru, dyt, layer_norm, rms_norm
from .layers import DyISRU, DyT, LayerNorm, Module, RMSNorm

__version__ = "0.1.0"

__all__ = [
    "layer_norm", "rms_norm", "dyt", "dyisru",
    "LayerNorm", "RMSNorm", "DyT", "DyISRU", "Module",
    "backends", "use_backend", "isa", "available_isas", "use_isa",
    "num_threads", "set_num_threads",
    "reference", "__version__",
]

# The C core is the default wherever the extension was built; without it
# (an install that could not compile C) the NumPy reference runs everything.
try:
    from ._cbackend import CBackend as _CBackend
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

    _register_backend("c", _CBackend())



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
