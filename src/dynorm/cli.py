"""``python -m dynorm`` (or ``dynorm``): subcommands; none given means ``info``.

Adding a subcommand: in your module, write ``register(subparsers)`` that adds
a parser (``subparsers.add_parser("name", help=...)``) and sets
``func=handler`` on it (``parser.set_defaults(func=...)``), where
``handler(args) -> int`` returns the exit status. Then add your module's name
to ``SUBCOMMAND_MODULES`` below: one line. Modules are imported only when the
CLI runs, so ``import dynorm`` stays light.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

#: Modules of this package that contribute subcommands via ``register(subparsers)``.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "dynorm.cli",  # info
    "dynorm._theory_cli",  # reproduce, fit
    "dynorm.bench",  # bench
)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``info`` subcommand."""
    p = subparsers.add_parser(
        "info", help="version, backends, ISA, and a self-check of every layer (default)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the self-check's inputs")
    p.set_defaults(func=info)


def info(args: argparse.Namespace) -> int:
    """Print version, backends, ISA and the self-check on every backend and
    every instruction set this machine runs; 1 on any FAIL."""
    import dynorm
    from dynorm import _backend
    from dynorm.selfcheck import LAYERS, TOLERANCE, run_selfcheck

    active = _backend.active_name()
    names = [f"{n} (active)" if n == active else n for n in dynorm.backends()]
    print(f"dynorm {dynorm.__version__}")
    print(f"backends: {', '.join(names)}")
    print(f"isa: {dynorm.isa()} (available: {', '.join(dynorm.available_isas())})")
    print(
        f"self-check (float64; forward vs reference, backward vs central differences; "
        f"tolerance {TOLERANCE:.0e} relative), worst relative error per layer:"
    )
    layers = list(LAYERS)
    widths = [max(17, len(n) + 2) for n in layers]
    print(f"  {'backend/isa':<14}" + "".join(f"{n:>{k}}" for n, k in zip(layers, widths)))
    failed = []
    for backend in dynorm.backends():
        with dynorm.use_backend(backend):
            for isa in dynorm.available_isas():
                with dynorm.use_isa(isa):
                    results = run_selfcheck(seed=args.seed)
                cells = []
                for name, ok, err in results:
                    cells.append(f"{'OK' if ok else 'FAIL'} {err:.1e}")
                    if not ok:
                        failed.append(f"{name} on {backend}/{isa}")
                print(f"  {backend + '/' + isa:<14}"
                      + "".join(f"{c:>{k}}" for c, k in zip(cells, widths)))
    print("all OK" if not failed else f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dynorm",
        description="dynorm: LayerNorm, RMSNorm, DyT and DyISRU with hand-written backward passes.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["info"])
    return int(args.func(args))
