"""benchmarks/pretrain_step.py: unknown --paths are refused at parsing, the per-part FLOP count equals a hand
count, and its reference re-writes of the authors' ops compute what i2pmae's do (issues 19 and 24)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from helpers_scripts import load_benchmark, unload_benchmark


@pytest.fixture(scope="module")
def bench():
    yield load_benchmark("pretrain_step")
    unload_benchmark("pretrain_step")


def test_unknown_paths_refused_at_parsing(bench, capsys):
    with pytest.raises(SystemExit):
        bench.build_parser().parse_args(["--paths", "ii,iv"])
    err = capsys.readouterr().err
    assert "--paths" in err and "'iv'" in err
    assert bench.build_parser().parse_args(["--paths", "ii,iii"]).paths == ["online", "cache"]
    assert bench.build_parser().parse_args(["--paths", "reference,i"]).paths == ["reference"]
    assert bench.build_parser().parse_args([]).paths == list(bench.PATHS)


def test_compile_and_old_embed_flags(bench):
    args = bench.build_parser().parse_args([])
    assert not args.compile and not args.old_embed
    args = bench.build_parser().parse_args(["--paths", "iii", "--compile", "--old-embed"])
    assert args.compile and args.old_embed and args.paths == ["cache"]
    assert bench.COMPILED in bench.LABELS and bench.OLD_EMBED in bench.LABELS


def test_defaults_are_what_users_get(bench):
    args = bench.build_parser().parse_args([])
    assert args.amp == "auto" and args.teacher_dtype == "auto"
    assert "per-cloud" in bench.__doc__ and "clip.load" in bench.__doc__


class _Tiny(nn.Module):
    """A stand-in with the parts PartTimer wraps: a linear 'teacher' and a single-head attention 'encoder'."""

    def __init__(self, k: int, n: int) -> None:
        super().__init__()
        self.proj = nn.Linear(k, n, bias=False)
        self.h_encoder = SimpleNamespace(forward=self._attend)

    def run_teacher(self, x):
        return self.proj(x)

    @staticmethod
    def _attend(q, k, v):
        return torch.bmm(torch.bmm(q, k.transpose(1, 2)).softmax(-1), v)


def test_flop_count_per_part_equals_hand_count(bench):
    from torch.utils.flop_counter import FlopCounterMode

    M, K, N = 6, 5, 7  # teacher: (M, K) @ (K, N)
    B, L, D = 2, 4, 3  # encoder: q k^T (B, L, L) then (B, L, L) @ (B, L, D)
    model = _Tiny(K, N)
    with FlopCounterMode(display=False) as counter:
        timer = bench.PartTimer(model, torch.device("cpu"), counter)
        model.run_teacher(torch.randn(M, K))
        model.h_encoder.forward(torch.randn(B, L, D), torch.randn(B, L, D), torch.randn(B, L, D))
        timer.close()
    assert timer.flops["teacher"] == 2 * M * N * K
    assert timer.flops["encoder"] == 2 * B * L * L * D + 2 * B * L * L * D
    assert counter.get_total_flops() == timer.flops["teacher"] + timer.flops["encoder"]
    assert "run_teacher" not in vars(model)  # unwrapped again


def test_reference_ops_match_ours(bench):
    bench.check_reference()  # kNN, back-projection and the per-cloud loop packing


def test_matmul_peak_is_positive(bench):
    assert bench.matmul_peak(torch.device("cpu"), torch.float32, n=64, reps=1) > 0
