"""``format: procedural``: fresh procedural shapes every epoch, a pure function of (seed, epoch, index)."""

from __future__ import annotations

import pytest
import torch

from i2pmae.data import build_dataset

CFG = {"format": "procedural", "npoints": 64, "size": 6, "seed": 3, "classes": 3}


def _items(ds):
    return torch.stack([ds[i]["points"] for i in range(len(ds))])


def test_same_seed_epoch_index_same_item_new_epoch_new_shapes():
    a, b = build_dataset(dict(CFG), "train"), build_dataset(dict(CFG), "train")
    assert len(a) == 6 and a[0]["points"].shape == (64, 3)
    assert [int(a[i]["label"]) for i in range(6)] == [0, 1, 2, 0, 1, 2]  # classes in turn
    assert torch.equal(_items(a), _items(b))
    epoch0 = _items(a)
    a.set_epoch(1)
    assert not torch.equal(_items(a), epoch0)  # never the same shape twice
    b.set_epoch(1)
    assert torch.equal(_items(a), _items(b))
    a.set_epoch(0)
    assert torch.equal(_items(a), epoch0)  # a resumed run replays the epoch exactly
    assert not torch.equal(_items(build_dataset(dict(CFG, seed=4), "train")), epoch0)


def test_evaluation_split_is_fixed_and_shares_no_shape_with_training():
    test = build_dataset(dict(CFG), "test")
    first = _items(test)
    test.set_epoch(5)
    assert torch.equal(_items(test), first)  # an evaluation split never changes
    train = build_dataset(dict(CFG), "train")
    for epoch in range(4):
        train.set_epoch(epoch)
        t = _items(train)
        assert not any(torch.equal(x, y) for x in t for y in first)


def test_options_are_checked():
    with pytest.raises(ValueError, match="unknown option.*sise"):
        build_dataset({"format": "procedural", "sise": 3}, "train")
    with pytest.raises(ValueError, match="size instead"):
        build_dataset(dict(CFG, fraction=0.5), "train")


def test_unseen_families_never_meet_the_pre_training_stream():
    """The transfer test: 13 families that are not among the 15 pre-training classes, drawn from a seed
    stream of their own, so no unseen-family shape is a pre-training shape (by family and by stream)."""
    from i2pmae.data.synth import CLASSES, FRESH_TAG, UNSEEN_TAG
    from i2pmae.data.synth_corpus import CORPUS_TAG, EXTRA_BUILDERS

    unseen = build_dataset({"format": "procedural", "unseen": True, "size": 26, "npoints": 64}, "test")
    assert unseen.names == list(EXTRA_BUILDERS) and len(unseen.names) == 13
    assert not set(unseen.names) & set(CLASSES)
    assert len({UNSEEN_TAG, FRESH_TAG, CORPUS_TAG}) == 3
    assert sorted({int(unseen[i]["label"]) for i in range(26)}) == list(range(13))
    train_unseen = build_dataset({"format": "procedural", "unseen": True, "size": 26, "npoints": 64}, "train")
    pre = build_dataset({"format": "procedural", "size": 26, "npoints": 64}, "train")  # same seed, index, epoch
    x = _items(unseen)
    assert not any(torch.equal(a, b) for a in x for b in _items(pre))
    assert not any(torch.equal(a, b) for a in x for b in _items(train_unseen))  # its train/test splits differ
    with pytest.raises(ValueError, match="leave 'classes' unset"):
        build_dataset({"format": "procedural", "unseen": True, "classes": 3}, "test")
