"""Train a tiny character-level GPT whose norms are dynorm layers.

    python examples/tinygpt/train.py --norm dyisru        # one model, progress lines
    python examples/tinygpt/train.py --compare            # every norm, same seed/data/budget

``--compare`` prints the final validation losses beside the paper's GPT-2
numbers and, where matplotlib is installed, writes the loss curves as a PNG.
Every model in a comparison starts from the same random matrices (one seed) and
sees the same batches in the same order; only the norm layers differ.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# BLAS threads are fixed when NumPy loads, so this comes first. One thread is
# the default: on a shared 2-core machine two OpenBLAS threads that spin-wait
# for each other ran a training step 3-5x *slower* than one (measured 1.6 s vs
# 0.3-0.5 s). On an idle machine, OPENBLAS_NUM_THREADS=2 is ~1.5x faster.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data import CharDataset, build_dataset, eval_batches, random_batch
from model import GPT, NORMS, CrossEntropy, GPTConfig, dn
from optim import AdamW, clip_grad_norm, cosine_lr

# Validation losses of GPT-2 trained on OpenWebText, from the paper this package implements.
PAPER = {
    "125M": {"layer_norm": 3.209, "dyt": 3.349, "dyisru": 3.307},
    "760M": {"layer_norm": 2.675, "dyt": 2.770, "dyisru": 2.732},
}


@dataclass
class TrainConfig:
    """Optimization budget and schedule (nanoGPT's character-level recipe, shortened)."""

    steps: int = 500
    batch_size: int = 32
    lr: float = 2e-3
    min_lr: float = 2e-4
    warmup: int = 50
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    seed: int = 1337
    eval_interval: int = 100
    eval_batches: int = 16
    log_interval: int = 25


def evaluate(model: GPT, batches: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean cross-entropy (nats per character) of ``model`` over fixed batches."""
    loss_fn = CrossEntropy()
    return float(np.mean([loss_fn.forward(model.forward(x), y) for x, y in batches]))


def train(cfg: GPTConfig, tc: TrainConfig, data: CharDataset, verbose: bool = True) -> dict[str, Any]:
    """Train one model; return its loss history, final validation loss and speed."""
    model = GPT(cfg, seed=tc.seed)
    params = model.parameters()
    opt = AdamW(params, betas=(tc.beta1, tc.beta2), weight_decay=tc.weight_decay)
    loss_fn = CrossEntropy()
    data_rng = np.random.default_rng(tc.seed + 1)  # the data order: same for every norm
    val_set = eval_batches(data.val, tc.batch_size, cfg.block_size, tc.eval_batches, tc.seed + 2)
    tokens_per_step = tc.batch_size * cfg.block_size
    history: dict[str, list] = {"step": [], "train": [], "val_step": [], "val": []}
    if verbose:
        print(f"[{cfg.norm}] {model.num_parameters() / 1e6:.3f}M parameters, "
              f"{tc.steps} steps x {tokens_per_step} tokens, dtype {np.dtype(cfg.dtype).name}",
              flush=True)
    t_start = time.perf_counter()
    t_train = 0.0
    window_t, window_tokens = time.perf_counter(), 0
    diverged = False
    for step in range(tc.steps):
        t0 = time.perf_counter()
        x, y = random_batch(data.train, tc.batch_size, cfg.block_size, data_rng)
        lr = cosine_lr(step, tc.lr, tc.min_lr, tc.warmup, tc.steps)
        loss = loss_fn.forward(model.forward(x), y)
        if not math.isfinite(loss):
            diverged = True
            print(f"[{cfg.norm}] step {step}: loss is {loss}; stopping", flush=True)
            break
        model.backward(loss_fn.backward())
        grads = model.gradients()
        grad_norm = clip_grad_norm(grads, tc.grad_clip)
        opt.step(grads, lr)
        t_train += time.perf_counter() - t0
        window_tokens += tokens_per_step
        history["step"].append(step)
        history["train"].append(loss)
        last = step == tc.steps - 1
        if (step + 1) % tc.eval_interval == 0 or last:
            history["val_step"].append(step + 1)
            history["val"].append(evaluate(model, val_set))
        if verbose and (step == 0 or (step + 1) % tc.log_interval == 0 or last):
            now = time.perf_counter()
            tok_s = window_tokens / max(now - window_t, 1e-9)
            window_t, window_tokens = now, 0
            val = f" | val {history['val'][-1]:.4f}" if history["val_step"][-1:] == [step + 1] else ""
            print(f"[{cfg.norm}] step {step + 1:5d}/{tc.steps} | loss {loss:.4f} | lr {lr:.2e} | "
                  f"|g| {grad_norm:6.3f} | {tok_s / 1e3:6.1f}k tok/s{val}", flush=True)
    elapsed = time.perf_counter() - t_start
    n_done = len(history["step"])
    return {
        "norm": cfg.norm,
        "final_val": history["val"][-1] if history["val"] and not diverged else float("nan"),
        "final_train": float(np.mean(history["train"][-tc.eval_interval:])) if n_done else float("nan"),
        "seconds": elapsed,
        "tokens_per_s": n_done * tokens_per_step / max(t_train, 1e-9),
        "parameters": model.num_parameters(),
        "history": history,
        "diverged": diverged,
    }


def format_table(results: list[dict[str, Any]]) -> str:
    """The comparison as a Markdown table, paper's GPT-2 numbers alongside."""
    lines = ["| norm | val loss (nats/char) | train loss (last eval window) | paper 125M | paper 760M | time | tokens/s |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        p1, p2 = PAPER["125M"].get(r["norm"]), PAPER["760M"].get(r["norm"])
        fmt = (lambda v: "—" if v is None else f"{v:.3f}")
        lines.append(f"| {r['norm']} | {r['final_val']:.4f} | {r['final_train']:.4f} | {fmt(p1)} | "
                     f"{fmt(p2)} | {r['seconds']:.0f} s | {r['tokens_per_s'] / 1e3:.1f}k |")
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], path: Path) -> bool:
    """Write training (smoothed) and validation loss curves to ``path``; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for r in results:
        h = r["history"]
        train = np.asarray(h["train"])
        k = min(20, len(train))
        smooth = np.convolve(train, np.ones(k) / k, mode="valid")
        ax1.plot(np.asarray(h["step"][k - 1:]) + 1, smooth, label=r["norm"], lw=1.2)
        ax2.plot(h["val_step"], h["val"], marker="o", ms=3, label=r["norm"], lw=1.2)
    ax1.set(title="training loss (20-step moving average)", xlabel="step", ylabel="nats / char")
    ax2.set(title="validation loss", xlabel="step", ylabel="nats / char")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    tails = [v for r in results for v in r["history"]["val"][1:] if math.isfinite(v)]
    if tails:  # skip the first evaluation, which would squash the rest
        ax2.set_ylim(min(tails) - 0.05, max(tails) + 0.05)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--norm", choices=NORMS, default="dyisru", help="norm layer in every block and at the end")
    p.add_argument("--compare", action="store_true", help="train every norm in --norms and print the table")
    p.add_argument("--norms", default=",".join(NORMS), help="comma-separated norms for --compare")
    m = p.add_argument_group("model")
    m.add_argument("--n-layer", type=int, default=4)
    m.add_argument("--n-embd", type=int, default=128, help="width C")
    m.add_argument("--n-head", type=int, default=4)
    m.add_argument("--block-size", type=int, default=64, help="context length T")
    m.add_argument("--emb-scale", type=float, default=1.0,
                   help="constant multiplying the embeddings (GPT-2: 1, the default)")
    m.add_argument("--untied", action="store_true", help="separate output projection (default: tied to wte)")
    m.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    for where in ("attn", "mlp", "final"):
        m.add_argument(f"--alpha0-{where}", type=float, default=0.5, help=f"DyT initial alpha, {where} norms")
    for where in ("attn", "mlp", "final"):
        m.add_argument(f"--beta0-{where}", type=float, default=None,
                       help=f"DyISRU initial beta, {where} norms (default 1/alpha0_{where}^2)")
    t = p.add_argument_group("training")
    d = TrainConfig()
    t.add_argument("--steps", type=int, default=d.steps)
    t.add_argument("--batch-size", type=int, default=d.batch_size)
    t.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    t.add_argument("--min-lr", type=float, default=d.min_lr)
    t.add_argument("--warmup", type=int, default=d.warmup)
    t.add_argument("--weight-decay", type=float, default=d.weight_decay)
    t.add_argument("--grad-clip", type=float, default=d.grad_clip, help="global-norm clip (0: off)")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--eval-interval", type=int, default=d.eval_interval)
    t.add_argument("--eval-batches", type=int, default=d.eval_batches)
    t.add_argument("--log-interval", type=int, default=d.log_interval)
    p.add_argument("--out", type=Path, default=Path("tinygpt_out"),
                   help="directory for compare.json / compare.png (--compare only)")
    return p.parse_args(argv)


def configs(args: argparse.Namespace, norm: str, vocab_size: int) -> tuple[GPTConfig, TrainConfig]:
    cfg = GPTConfig(vocab_size=vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                    n_head=args.n_head, n_embd=args.n_embd, norm=norm, tied=not args.untied,
                    alpha0_attn=args.alpha0_attn, alpha0_mlp=args.alpha0_mlp,
                    alpha0_final=args.alpha0_final, beta0_attn=args.beta0_attn,
                    beta0_mlp=args.beta0_mlp, beta0_final=args.beta0_final,
                    emb_scale=args.emb_scale, dtype=np.dtype(args.dtype).type)
    tc = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, min_lr=args.min_lr,
                     warmup=args.warmup, weight_decay=args.weight_decay, grad_clip=args.grad_clip,
                     seed=args.seed, eval_interval=args.eval_interval,
                     eval_batches=args.eval_batches, log_interval=args.log_interval)
    return cfg, tc


def backend_note() -> str:
    try:
        return f"dynorm backend {dn.backends()[0]}"
    except (AttributeError, IndexError):  # a dynorm without the backend registry
        return "dynorm backend unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = build_dataset()
    print(f"corpus: pydoc_data.topics, {len(data.train)} train / {len(data.val)} val chars, "
          f"vocab {data.vocab_size}; {backend_note()}; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}",
          flush=True)
    if not args.compare:
        cfg, tc = configs(args, args.norm, data.vocab_size)
        r = train(cfg, tc, data)
        print(f"[{r['norm']}] final val loss {r['final_val']:.4f} nats/char, "
              f"{r['seconds']:.0f} s, {r['tokens_per_s'] / 1e3:.1f}k tokens/s")
        return 0 if not r["diverged"] else 1

    norms = [n.strip() for n in args.norms.split(",") if n.strip()]
    for n in norms:
        if n not in NORMS:
            raise SystemExit(f"unknown norm {n!r}; choose from {', '.join(NORMS)}")
    results = []
    t0 = time.perf_counter()
    for norm in norms:
        cfg, tc = configs(args, norm, data.vocab_size)
        results.append(train(cfg, tc, data))
        print(f"[{norm}] final val loss {results[-1]['final_val']:.4f} "
              f"({results[-1]['seconds']:.0f} s)", flush=True)
    total = time.perf_counter() - t0
    print()
    print(format_table(results))
    ranked = sorted((r for r in results if math.isfinite(r["final_val"])), key=lambda r: r["final_val"])
    order = ranked[0]["norm"] if ranked else ""
    for a, b in itertools.pairwise(ranked):  # within 0.005 nats: a tie at this resolution
        order += (" ≈ " if b["final_val"] - a["final_val"] < 0.005 else " < ") + b["norm"]
    print("\nordering by val loss (best first; ≈ within 0.005): " + order)
    print("paper's ordering (GPT-2, 125M and 760M): layer_norm < dyisru < dyt")
    print(f"total time {total / 60:.1f} min")
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "total_seconds": total, "results": results, "paper": PAPER}
    (args.out / "compare.json").write_text(json.dumps(summary, indent=1))
    if plot(results, args.out / "compare.png"):
        print(f"loss curves written to {args.out / 'compare.png'}")
    else:
        print("matplotlib not installed: no plot (results in compare.json)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
