"""StepBatchSampler: batches are a pure function of (seed, epoch, step, shard)."""

import pytest

from i2pmae.engine.sampler import StepBatchSampler, mix_seed


def test_accumulation_equals_ranks():
    single = StepBatchSampler(40, batch_size=4, accum_steps=2, rank=0, world_size=1, seed=3)
    ranks = [StepBatchSampler(40, batch_size=4, accum_steps=1, rank=r, world_size=2, seed=3) for r in range(2)]
    for s in [single, *ranks]:
        s.set_epoch(1)
    micro = list(single)
    per_rank = [list(r) for r in ranks]
    assert len(micro) == 2 * single.steps_per_epoch == 10
    for step in range(single.steps_per_epoch):
        assert micro[2 * step] == per_rank[0][step]
        assert micro[2 * step + 1] == per_rank[1][step]


def test_epoch_covers_items_once_and_resume_mid_epoch():
    s = StepBatchSampler(23, batch_size=5, seed=0)
    s.set_epoch(2)
    full = list(s)
    flat = [i for b in full for i in b]
    assert len(flat) == 20 and len(set(flat)) == 20  # drop_last: 4 steps of 5
    s.set_epoch(2, start_step=3)
    assert list(s) == full[3:]
    s.set_epoch(3)
    assert list(s) != full  # a new permutation each epoch


def test_too_small_dataset_has_clear_error():
    with pytest.raises(ValueError, match="fewer than one global batch"):
        StepBatchSampler(3, batch_size=4)


def test_mix_seed_distinguishes_parts():
    seeds = {mix_seed(0, s, r) for s in range(50) for r in range(4)}
    assert len(seeds) == 200
    assert mix_seed(1, 2, 3) == mix_seed(1, 2, 3)
