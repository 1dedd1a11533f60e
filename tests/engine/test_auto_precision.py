"""``teacher.dtype: auto`` and ``train.amp: auto`` follow the CPU's bf16 capability (issue 19).

The capability probe is mocked both ways, so the test says the same on any machine.
"""

from __future__ import annotations

import logging

import pytest
import torch

import i2pmae.teachers.base as base
from i2pmae.engine import runs
from i2pmae.engine.loop import resolve_amp
from i2pmae.teachers import resolve_dtype

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def _mock_cpu(monkeypatch, amx: bool, avx512_bf16: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(base, "_LOGGED", set())


@pytest.mark.parametrize("amx, avx, expected", [(True, False, torch.bfloat16), (False, True, torch.bfloat16),
                                                (False, False, torch.float32)])
def test_teacher_auto_follows_cpu_bf16(monkeypatch, caplog, amx, avx, expected):
    _mock_cpu(monkeypatch, amx, avx)
    with caplog.at_level(logging.INFO, logger="i2pmae.precision"):
        assert resolve_dtype("auto", CPU) == expected
        assert resolve_dtype("auto", CPU) == expected
    msgs = [r.getMessage() for r in caplog.records if "teacher.dtype" in r.getMessage()]
    assert len(msgs) == 1, msgs  # logged once, with the dtype and the reason
    assert ("bf16" if expected == torch.bfloat16 else "fp32") in msgs[0]
    assert ("native bf16" in msgs[0]) == (expected == torch.bfloat16)


def test_teacher_auto_cuda_and_overrides(monkeypatch):
    _mock_cpu(monkeypatch, True, True)
    assert resolve_dtype("auto", CUDA) == torch.float16  # no CUDA needed: only the device type is read
    assert resolve_dtype("fp32", CPU) == torch.float32  # explicit choices win over the capability
    _mock_cpu(monkeypatch, False, False)
    assert resolve_dtype("bf16", CPU) == torch.bfloat16


def test_runs_teacher_dtype_uses_the_same_rule(monkeypatch):
    seen = {}

    def fake_build(name, weights=None, device=None, dtype=None, **kw):
        seen["dtype"] = dtype
        return None

    import i2pmae.teachers as teachers

    monkeypatch.setattr(teachers, "build_teacher", fake_build)
    cfg = {"model": {}, "teacher": {"name": "tiny-vit", "dtype": "auto"}}
    for native, expected in ((True, torch.bfloat16), (False, torch.float32)):
        _mock_cpu(monkeypatch, native, False)
        runs.build_teacher_from_config(cfg, CPU)
        assert seen["dtype"] == expected


@pytest.mark.parametrize("native", [True, False])
def test_amp_auto_follows_cpu_bf16_and_logs_why(monkeypatch, caplog, native):
    _mock_cpu(monkeypatch, False, native)
    with caplog.at_level(logging.INFO, logger="i2pmae.precision"):
        assert resolve_amp("auto", CPU) == (torch.bfloat16 if native else None)
    name = "bf16" if native else "fp32"
    assert any(f"train.amp: auto -> {name}" in r.getMessage() for r in caplog.records)
    assert resolve_amp("none", CPU) is None and resolve_amp("bf16", CPU) == torch.bfloat16  # overridable


def test_row_batchnorm_stays_fp32_under_autocast():
    from i2pmae.models.layers.token_embed import batch_norm_rows

    torch.manual_seed(0)
    bn = torch.nn.BatchNorm1d(4)
    x = (torch.randn(64, 4) * 1e-3 + 50.0)  # large mean, small spread: the case the kernel exists for
    ref = batch_norm_rows(bn, x)
    bn2 = torch.nn.BatchNorm1d(4)
    y = batch_norm_rows(bn2, x.to(torch.bfloat16).float().to(torch.bfloat16))
    assert y.dtype == torch.float32
    torch.testing.assert_close(bn2.running_mean, bn.running_mean, rtol=1e-2, atol=1e-2)
    assert torch.isfinite(ref).all() and torch.isfinite(y).all()


def test_capability_probe_is_consistent_with_torch():
    native, why = base.cpu_native_bf16()
    assert native == (torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    assert why
