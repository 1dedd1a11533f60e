"""The cosine schedule against timm's CosineLRScheduler driven the authors' way."""

import math

import pytest
import torch
from timm.scheduler import CosineLRScheduler

from i2pmae.engine.schedule import CosineSchedule


def authors_epoch_lrs(lr, t_initial, warmup_t, n_epochs, lr_min=1e-6, warmup_lr_init=1e-6):
    """lr used in each epoch when timm's scheduler is built and stepped as in the authors' runners."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=lr)
    sched = CosineLRScheduler(opt, t_initial=t_initial, lr_min=lr_min, cycle_mul=1, cycle_decay=0.1,
                              warmup_lr_init=warmup_lr_init, warmup_t=warmup_t, cycle_limit=1, t_in_epochs=True)
    lrs = []
    for epoch in range(n_epochs):
        lrs.append(opt.param_groups[0]["lr"])  # what this epoch's steps use
        sched.step(epoch)  # at the end of the epoch
    return lrs


def test_finetune_schedule_equals_timm_every_epoch():
    # docs/data.md §5: t_initial 300, warmup 10, init = min = 1e-6, lr 5e-4; 301 epochs (0..300).
    ref = authors_epoch_lrs(5e-4, 300, 10, 301)
    ours = CosineSchedule.from_config({"lr": 5e-4, "epochs": 301, "cosine_epochs": 300, "warmup_epochs": 10,
                                       "warmup_lr": 1e-6, "min_lr": 1e-6}, steps_per_epoch=307)
    got = [ours.lr(e, s) for e in range(301) for s in (0, 306)]
    assert got == [r for r in ref for _ in range(2)]  # exactly, and constant within an epoch
    assert got[0] == got[2] == 1e-6  # epochs 0 and 1 both at warmup_lr_init
    # No warmup prefix: the cosine takes over at t = 10 with phase 10/300, never reaching the peak lr.
    assert ours.lr(10) == pytest.approx(1e-6 + 9 * (5e-4 - 1e-6) / 10)
    assert ours.lr(11) == pytest.approx(1e-6 + 0.5 * (5e-4 - 1e-6) * (1 + math.cos(math.pi * 10 / 300)))
    assert max(got) < 5e-4


def test_pretrain_schedule_is_independent_of_epochs_run():
    # docs/data.md §6.3: 400 cosine epochs, 300 run; lr 1e-3.
    ref = authors_epoch_lrs(1e-3, 400, 10, 300)
    ours = CosineSchedule.from_config({"lr": 1e-3, "epochs": 300, "cosine_epochs": 400, "warmup_epochs": 10})
    assert [ours.lr(e) for e in range(300)] == ref
    assert ours.lr(299) > 1e-4  # still far from lr_min at the end


@pytest.mark.parametrize("warmup", [0, 3])
def test_other_settings_and_past_the_cycle(warmup):
    ref = authors_epoch_lrs(2e-4, 20, warmup, 30, lr_min=1e-5, warmup_lr_init=1e-7)
    ours = CosineSchedule(2e-4, 20, warmup, warmup_lr_init=1e-7, lr_min=1e-5)
    assert [ours.lr(e) for e in range(30)] == pytest.approx(ref, rel=1e-15, abs=0)
    assert ours.lr(29) == 1e-5


def test_per_step_variant_follows_the_curve_at_fractional_epochs():
    s = CosineSchedule(1e-3, 10, 2, warmup_lr_init=0.0, lr_min=0.0, steps_per_epoch=4, mode="step")
    assert s.lr(0, 0) == 0.0
    assert s.lr(0, 2) == pytest.approx(1e-3 * 0.25)  # t = 0.5 of a 2-epoch warm-up
    assert s.lr(1, 0) == pytest.approx(1e-3 * 0.5)
    t = 5 + 3 / 4
    assert s.lr(5, 3) == pytest.approx(0.5e-3 * (1 + math.cos(math.pi * t / 10)))
    values = [s.lr(e, k) for e in range(2, 10) for k in range(4)]
    assert all(a >= b for a, b in zip(values, values[1:]))  # monotone after warm-up
    assert s.lr(10, 0) == 0.0


def test_from_config_defaults_and_errors():
    s = CosineSchedule.from_config({"lr": 1e-3, "epochs": 5})
    assert (s.t_initial, s.warmup_t, s.warmup_lr_init, s.lr_min, s.mode) == (5, 0, 1e-6, 1e-6, "epoch")
    assert s.lr(0) == 1e-3  # no warm-up: timm keeps the base lr before the first step
    with pytest.raises(ValueError, match="train.lr"):
        CosineSchedule.from_config({"epochs": 3})
    with pytest.raises(ValueError, match="mode"):
        CosineSchedule.from_config({"lr": 1e-3, "epochs": 3, "lr_schedule": "linear"})
    with pytest.raises(ValueError, match="cosine_epochs"):
        CosineSchedule.from_config({"lr": 1e-3, "epochs": 3, "cosine_epochs": 0})
    with pytest.raises(ValueError):
        s.lr(-1)


def test_apply_sets_groups_and_state_round_trip():
    p1, p2 = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([{"params": [p1]}, {"params": [p2], "lr_scale": 0.5}], lr=1.0)
    s = CosineSchedule(1e-3, 10, 2)
    lr = s.apply(opt, 4)
    assert lr == s.lr(4)
    assert opt.param_groups[0]["lr"] == lr and opt.param_groups[1]["lr"] == lr * 0.5
    other = CosineSchedule(1.0, 1.0)
    other.load_state_dict(s.state_dict())
    assert [other.lr(e) for e in range(12)] == [s.lr(e) for e in range(12)]
    with pytest.raises(ValueError, match="unknown"):
        other.load_state_dict({"bogus": 1})
