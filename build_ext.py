"""The cffi builder for dynorm's C core (API mode).

Kept outside the package, as pynacl does: setuptools runs it at build time
(``cffi_modules`` in setup.py) to compile every top-level ``cext/*.c`` unit
-- the library and the Python shim ``cext/pyshim.c`` -- into the extension
``dynorm._dynorm_c``. The cdef is the public header and the shim's header
themselves, less their preprocessor lines, so the binding cannot drift from
``cext/dynorm.h`` and ``cext/pyshim.h``.

Every unit builds with the same flags: the AVX2 and AVX-512 units select
their instruction sets with ``#pragma GCC target``, and the library picks
the set at run time from cpuid, so one wheel runs on any x86-64 CPU.

``python build_ext.py`` builds the extension in place, into ``src/dynorm/``,
for development from a source checkout.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
CEXT = HERE / "cext"
# Relative paths for setuptools (an sdist must not name this machine's
# directories); absolute ones in place, where cffi compiles from its tmpdir.
ROOT = HERE if __name__ == "__main__" else Path()
SOURCES = sorted(str(ROOT / p.relative_to(HERE)) for p in CEXT.glob("*.c"))
HEADERS = ["dynorm.h", "pyshim.h"]
FLAGS = ["-O2", "-std=c99", "-ffp-contract=off", "-Wno-unused-function"]

def cdef_of(header: str) -> str:
    """``cext/<header>`` as cffi's cdef accepts it: no preprocessor, no extern "C",
    no macro-generated declarations."""
    text = (CEXT / header).read_text()
    text = re.sub(r"#ifdef __cplusplus.*?#endif", "", text, flags=re.S)
    # preprocessor lines with their continuations, and the declarations the
    # op lists generate (DN_...(...) lines): Python calls none of those
    text = re.sub(r"^#.*?(?<!\\)$", "", text, flags=re.M | re.S)
    return "\n".join(line for line in text.splitlines() if not line.startswith("DN_"))


ffibuilder = FFI()
ffibuilder.cdef("\n".join(cdef_of(h) for h in HEADERS))
ffibuilder.set_source(
    "dynorm._dynorm_c",
    "\n".join(f'#include "{h}"' for h in HEADERS),
    sources=SOURCES,
    # setuptools rebuilds a unit when a header or kernel include changes too
    # (the op lists live in headers), not only when its .c file does
    depends=sorted(str(ROOT / p.relative_to(HERE))
                   for pattern in ("*.h", "*.inc") for p in CEXT.glob(pattern)),
    include_dirs=[str(ROOT / CEXT.relative_to(HERE))],
    extra_compile_args=FLAGS,
    libraries=["m", "pthread"],
)

if __name__ == "__main__":
    import os

    os.chdir(HERE)
    built = Path(ffibuilder.compile(tmpdir=str(HERE / "build" / "cffi"), verbose=True))
    # the name setuptools gives it (cffi builds for the limited API), so that
    # an editable install and this build replace each other's file
    target = HERE / "src" / "dynorm" / "_dynorm_c.abi3.so"
    for stale in target.parent.glob("_dynorm_c.*"):
        stale.unlink()
    shutil.copy2(built, target)
    print(f"built {target}")
