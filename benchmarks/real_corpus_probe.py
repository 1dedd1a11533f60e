"""5-fold cross-validated probe on the real corpus's left-out sets (issue 23): linear SVM and 10-NN; the same
as ``i2pmae data real-corpus-probe`` (code: i2pmae/tasks/real_corpus_probe.py), on one CPU thread.

    python benchmarks/real_corpus_probe.py                          # random-init encoders, seeds 0 1 2
    python benchmarks/real_corpus_probe.py --checkpoint RUN/last.pth --out results.json
"""

from __future__ import annotations

import argparse
import sys

import torch

from i2pmae.tasks.real_corpus_probe import add_probe_args, run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_probe_args(ap)
    ap.add_argument("--out", dest="json_out", default=argparse.SUPPRESS, help="the same as --json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
