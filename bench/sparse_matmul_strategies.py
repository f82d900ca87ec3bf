"""Compare ways of multiplying the sparse multi-hot batch by the first layer's kernel.

Each (strategy, units) pair trains in its own process on the first rows of a vectorized training
split (a run folder's ``vectorize/train.npz``) and reports seconds per epoch (median of the epochs
after the first, which traces) and the process's peak RSS.

    python bench/sparse_matmul_strategies.py --train R/vectorize/train.npz --units 16 64 1024 \
        --strategies slices split single
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys

STRATEGIES = ("slices", "split", "single", "custom", "segment", "current")


def _patch(strategy: str) -> None:
    import tensorflow as tf

    from imdb_model import layers

    block = 24

    def edges(columns):
        blocks = -(-columns // block)
        return [round(columns * b / blocks) for b in range(blocks + 1)]

    def slices(sparse, kernel):  # the code before issue 17: a strided slice of the kernel per block
        e = edges(kernel.shape[-1])
        return tf.concat(
            [tf.sparse.sparse_dense_matmul(sparse, kernel[:, a:b]) for a, b in itertools.pairwise(e)], 1
        )

    def split(sparse, kernel):  # tf.split: the gradient is one concat of the blocks' gradients
        e = edges(kernel.shape[-1])
        parts = tf.split(kernel, [b - a for a, b in itertools.pairwise(e)], axis=1)
        return tf.concat([tf.sparse.sparse_dense_matmul(sparse, part) for part in parts], 1)

    def single(sparse, kernel):
        return tf.sparse.sparse_dense_matmul(sparse, kernel)

    def custom(sparse, kernel):  # blocks forward and backward, no gradient for the sparse values
        e = edges(kernel.shape[-1])
        sizes = [b - a for a, b in itertools.pairwise(e)]

        @tf.custom_gradient
        def product(k):
            parts = tf.split(k, sizes, axis=1)
            out = tf.concat([tf.sparse.sparse_dense_matmul(sparse, p) for p in parts], 1)

            def grad(upstream):
                pieces = tf.split(upstream, sizes, axis=1)
                return tf.concat(
                    [tf.sparse.sparse_dense_matmul(sparse, g, adjoint_a=True) for g in pieces], 1
                )

            return out, grad

        return product(kernel)

    def segment(sparse, kernel):  # embedding-style: gather the kernel's rows, sum them per review
        rows, columns = sparse.indices[:, 0], sparse.indices[:, 1]
        summed = tf.math.unsorted_segment_sum(tf.gather(kernel, columns), rows, sparse.dense_shape[0])
        return tf.reshape(summed, [-1, kernel.shape[-1]])

    if strategy != "current":
        layers.sparse_matmul = {
            "slices": slices,
            "split": split,
            "single": single,
            "custom": custom,
            "segment": segment,
        }[strategy]


def run_one(args) -> dict:
    import numpy as np

    from imdb_model import ModelSpec, build_model
    from imdb_model.training import CompiledTrainer, MultiHotRows
    from imdb_pipeline.core.parameters import PipelineConfig

    _patch(args.strategy)
    data = np.load(args.train)
    rows = min(args.rows, len(data["labels"]))
    indptr = data["indptr"][: rows + 1]
    train = MultiHotRows(data["indices"][: indptr[-1]], indptr, data["labels"][:rows], int(data["num_words"]))
    book = PipelineConfig().to_dict()  # the book's values, from the one parameter schema
    shape = {"num_words": int(data["num_words"]), "hidden_layers": args.hidden_layers, "units": args.units}
    spec = ModelSpec.from_mapping({**book, **shape})
    model = build_model(spec, seed=1)
    history = CompiledTrainer(model, batch_size=args.batch_size, seed=1).fit(train, args.epochs)
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    steady = sorted(history["seconds"][1:] or history["seconds"])
    return {
        "strategy": args.strategy,
        "units": args.units,
        "rows": rows,
        "seconds_per_epoch": round(steady[len(steady) // 2], 4),
        "peak_rss_mb": round(peak),
        "loss": round(history["loss"][-1], 5),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--units", type=int, nargs="+", default=[16, 32, 64, 1024])
    parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES))
    parser.add_argument("--rows", type=int, default=25000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--hidden-layers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--strategy", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        args.units = args.units[0]
        print(json.dumps(run_one(args)))
        return 0
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for _ in range(args.repeat):
        for units in args.units:
            for strategy in args.strategies:
                command = [sys.executable, __file__, "--one", "--strategy", strategy, "--units", str(units)]
                command += ["--train", args.train, "--rows", str(args.rows), "--epochs", str(args.epochs)]
                command += ["--batch-size", str(args.batch_size), "--hidden-layers", str(args.hidden_layers)]
                result = subprocess.run(command, capture_output=True, text=True, env=env)
                lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
                print(
                    lines[-1] if lines else f"{strategy} {units}: failed\n{result.stderr[-1500:]}", flush=True
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
