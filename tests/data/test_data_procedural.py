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


def test_test_size_and_items_reach_persistent_workers():
    """``test_size`` sizes the evaluation splits; the epoch lives in shared memory, so ``set_loader_epoch`` also
    reaches persistent DataLoader workers (``build_loader`` keeps its workers across epochs)."""
    from i2pmae.data import build_loader, set_loader_epoch

    assert len(build_dataset(dict(CFG, test_size=4), "test")) == 4 and len(build_dataset(dict(CFG, test_size=4),
                                                                                          "train")) == 6
    ds = build_dataset(dict(CFG), "train")
    loader = build_loader(ds, batch_size=3, num_workers=1)
    assert loader.persistent_workers
    for epoch in (0, 2):
        set_loader_epoch(loader, epoch)
        got = torch.cat([b["points"] for b in loader])
        names = [n for b in loader for n in b["name"]]
        fresh = build_dataset(dict(CFG), "train")
        fresh.set_epoch(epoch)
        assert torch.equal(got, _items(fresh)) and names[0] == f"fresh{epoch}-0"


def test_unseen_families_never_meet_the_pre_training_stream():
    """The transfer test: 13 families that are not among the 15 pre-training classes, drawn from a seed
    stream of their own, so no unseen-family shape is a pre-training shape (by family and by stream)."""
    from i2pmae.data.procedural import FIXED_EPOCH, FRESH_TAG, UNSEEN_FAMILIES, UNSEEN_TAG, stream_entropy
    from i2pmae.data.synth import BUILDERS, CLASSES
    from i2pmae.data.synth_corpus import CORPUS_TAG, EXTRA_BUILDERS

    # by families: the unseen split draws only the 13 extra builders; every pre-training stream (fixed draw,
    # procedural) only the 15 built-in ones
    unseen = build_dataset({"format": "procedural", "unseen": True, "size": 26, "npoints": 64}, "test")
    assert unseen.classes == UNSEEN_FAMILIES == list(EXTRA_BUILDERS) and len(unseen.classes) == 13
    assert unseen.builders is EXTRA_BUILDERS and not set(EXTRA_BUILDERS) & set(BUILDERS)
    assert not set(unseen.classes) & set(CLASSES)
    assert sorted({int(unseen[i]["label"]) for i in range(26)}) == list(range(13))
    pre = build_dataset({"format": "procedural", "size": 26, "npoints": 64}, "train")
    assert pre.builders is BUILDERS and set(pre.classes) <= set(CLASSES)
    # by seed streams: entropy (tag, seed, epoch, index), tags distinct from each other and from the fixed
    # draws' first word (the synth seed: 0 for the test draw, 1 for the dev draw); the teacher's corpus
    # starts with CORPUS_TAG
    assert len({UNSEEN_TAG, FRESH_TAG, CORPUS_TAG, 0, 1}) == 5
    assert stream_entropy(unseen.tag, 0, unseen.epoch, 3)[0] == UNSEEN_TAG and pre.tag == FRESH_TAG
    assert unseen.epoch == FIXED_EPOCH["test"]
    # and empirically: the same (seed, epoch, index) in both streams gives different shapes
    train_unseen = build_dataset({"format": "procedural", "unseen": True, "size": 26, "npoints": 64}, "train")
    x = _items(unseen)
    assert not any(torch.equal(a, b) for a in x for b in _items(pre))
    assert not any(torch.equal(a, b) for a in x for b in _items(train_unseen))  # its train/test splits differ
    assert unseen[0]["name"].startswith("unseen") and pre[0]["name"].startswith("fresh")


def test_unseen_families_can_be_chosen_and_are_refused_when_seen():
    sub = build_dataset({"format": "procedural", "unseen": True, "classes": "bowl,car", "size": 4}, "test")
    assert sub.classes == ["bowl", "car"]
    assert build_dataset({"format": "procedural", "unseen": True, "classes": 3}, "test").classes == \
        ["stool", "bench", "bowl"]
    with pytest.raises(ValueError, match="pre-training classes are not unseen"):
        build_dataset({"format": "procedural", "unseen": True, "classes": "bowl,chair"}, "test")
    with pytest.raises(ValueError, match="unknown or repeated synthetic classes"):
        build_dataset({"format": "procedural", "classes": "bowl,chair"}, "train")  # pre-training: built-ins only


def test_unseen_families_written_to_files_read_back_as_the_same_shapes(tmp_path):
    """`i2pmae data synth --unseen-families` writes exactly the shapes of the procedural unseen split."""
    from i2pmae.cli.main import main

    assert main(["data", "synth", "--unseen-families", "--out", str(tmp_path / "u"), "--per-class", "2",
                 "--test-per-class", "1", "--points", "64", "--seed", "5"]) == 0
    for split, n in (("train", 26), ("test", 13)):
        files = build_dataset({"format": "modelnet40_h5", "root": str(tmp_path / "u"), "npoints": 64}, split)
        made = build_dataset({"format": "procedural", "unseen": True, "size": 26, "test_size": 13, "seed": 5,
                              "npoints": 64}, split)
        assert len(files) == len(made) == n and files.classes == made.classes
        assert torch.equal(_items(files), _items(made))
        assert [int(files[i]["label"]) for i in range(n)] == [int(made[i]["label"]) for i in range(n)]


def test_teacher_cache_over_fresh_shapes_says_it_replays_epoch_0(caplog):
    """A teacher cache holds one draw: over ``format: procedural`` training data it pins epoch 0 (and says so)."""
    from i2pmae.data.teacher_cache import CachedTeacherDataset

    train = build_dataset(dict(CFG), "train")
    train.set_epoch(3)
    with caplog.at_level("WARNING", logger="i2pmae"):
        CachedTeacherDataset(train, cache=None)
    assert train.epoch == 0 and "every epoch replays them" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="i2pmae"):
        CachedTeacherDataset(build_dataset(dict(CFG), "test"), cache=None)
    assert "replays" not in caplog.text
