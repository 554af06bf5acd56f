"""The C library on its own (cext/, no Python involved), driven from pytest
so that the README's one test command covers it: its unit tests on every
ISA this CPU runs, and the same tests under AddressSanitizer + UBSan. Each
builds into a temporary directory, leaving the source tree clean."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CEXT = Path(__file__).resolve().parent.parent / "cext"

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or shutil.which(os.environ.get("CC", "cc")) is None
    or not (CEXT / "Makefile").exists(),
    reason="needs make, a C compiler and the cext/ sources",
)


def make(target: str, build: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-C", str(CEXT), f"BUILD={build}", target],
        capture_output=True, text=True, timeout=timeout,
    )


def closing_line(out: str) -> str:
    return next(line for line in reversed(out.splitlines()) if "passed" in line)


@pytest.mark.parametrize("target", ["test", "sanitize"])
def test_c_unit_tests(target: str, tmp_path: Path) -> None:
    """The unit tests, the thread tests and the Python shim's tests, each
    closing on its own count of passed and failed checks."""
    run = make(target, tmp_path / "build")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    counts = [line for line in run.stdout.splitlines() if line.endswith(" failed")]
    assert len(counts) == 3 and all(line.endswith(" 0 failed") for line in counts), counts
    assert int(closing_line(run.stdout).split()[0]) > 10000, counts
    assert "runtime error" not in run.stderr and "ERROR: AddressSanitizer" not in run.stderr


def test_threads_under_thread_sanitizer(tmp_path: Path) -> None:
    """The library's pool (every op with 1, 2, 3 and 8 threads, concurrent
    callers while the count changes, fork) under ThreadSanitizer: no race."""
    run = make("tsan", tmp_path / "build")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    line = closing_line(run.stdout)
    assert line.endswith(" 0 failed") and int(line.split()[0]) > 100, line
    assert "WARNING: ThreadSanitizer" not in run.stderr, run.stderr[-4000:]


EXAMPLE = CEXT.parent / "examples" / "c" / "dyt_gradcheck.c"


def test_install_and_embed(tmp_path: Path) -> None:
    """`make install` lays out the header, both libraries (the shared one
    under its soname) and a pkg-config file; the C example builds against
    them as an embedder would, shared and static, and its finite-difference
    check of the DyT backward passes."""
    prefix = tmp_path / "prefix"
    build = tmp_path / "build"
    run = subprocess.run(["make", "-C", str(CEXT), f"BUILD={build}", f"PREFIX={prefix}", "install"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    lib = prefix / "lib"
    for f in ("include/dynorm.h", "lib/libdynorm.a", "lib/libdynorm.so.1", "lib/pkgconfig/dynorm.pc"):
        assert (prefix / f).is_file(), f
    assert os.readlink(lib / "libdynorm.so") == "libdynorm.so.1"
    pc = (lib / "pkgconfig" / "dynorm.pc").read_text()
    assert f"includedir={prefix}/include" in pc and "Libs: -L${libdir} -ldynorm" in pc
    if shutil.which("pkg-config"):
        env = dict(os.environ, PKG_CONFIG_PATH=str(lib / "pkgconfig"))
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "dynorm"], env=env,
                               capture_output=True, text=True, check=True).stdout.split()
    else:
        flags = [f"-I{prefix}/include", f"-L{lib}", "-ldynorm"]
    cc = os.environ.get("CC", "cc")
    builds = {
        "shared": [*flags, f"-Wl,-rpath,{lib}", "-lm"],
        "static": [f"-I{prefix}/include", str(lib / "libdynorm.a"), "-lm"],
    }
    for kind, link in builds.items():
        exe = tmp_path / f"gradcheck_{kind}"
        run = subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", str(EXAMPLE),
                              *link, "-o", str(exe)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-4000:]
        run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0 and "all gradients agree" in run.stdout, run.stdout + run.stderr


# The float32 bounds README.md documents, proven over all 2^32 inputs.
# "tanh(sech2)" is the tanh the DyT backward computes beside sech^2.
SWEEP_BOUNDS = {"tanh": 2.0, "tanh(sech2)": 2.0, "isru": 4.0, "sech2": 3.5, "tanh_fast": 6.0}


def test_exhaustive_float32_sweep(tmp_path: Path) -> None:
    """Every float32 input through tanh, sech^2, tanh_fast and x/sqrt(c + x^2)
    (five values of c) on every ISA this CPU runs, against float64: the
    maximum ULP error of each stays within its documented bound, and the
    special values (NaN, +-inf, signed zeros) come out exactly."""
    run = make("sweep", tmp_path / "build", timeout=3000)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "sweep passed" in run.stdout
    assert "all 2^32 inputs per line" in run.stdout  # not a sampled run
    seen: dict[str, float] = {}
    for line in run.stdout.splitlines():
        words = line.split()
        name = words[0] if words else ""
        if name in SWEEP_BOUNDS:
            ulp = float(words[2] if name != "isru" else words[3])
            seen[name] = max(seen.get(name, 0.0), ulp)
            bad = int(words[-3])
            assert bad == 0, line
    assert set(seen) == set(SWEEP_BOUNDS), run.stdout[-2000:]
    for name, worst in seen.items():
        assert worst <= SWEEP_BOUNDS[name], (name, worst)


def test_float64_vector_math(tmp_path: Path) -> None:
    run = make("vmath64", tmp_path / "build")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-gcc") is None,
                    reason="no aarch64 cross compiler (Debian's gcc-aarch64-linux-gnu)")
def test_neon_cross_build(tmp_path: Path) -> None:
    """The NEON unit compiles for aarch64; under qemu its C tests pass too."""
    run = make("neon", tmp_path / "build")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    if shutil.which("qemu-aarch64"):
        line = closing_line(run.stdout)
        assert line.endswith(" 0 failed"), line
        assert "isa neon" in run.stdout
