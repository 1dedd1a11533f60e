"""Teacher cache: what is stored equals what the teacher returns; builds resume; mismatches are refused."""

import copy
import json

import numpy as np
import pytest
import torch

from i2pmae.data import build_dataset
from i2pmae.data.teacher_cache import CachedTeacherDataset, TeacherCache
from i2pmae.engine.runs import build_teacher_from_config
from i2pmae.tasks.teacher_cache import build_teacher_cache, open_cache_for_run
from i2pmae.projection import project_views

from helpers_cache import guided_config
from helpers_loop import write_shapenet55


def _open(run, dataset):
    torch.manual_seed(run["train"]["seed"])  # as a run seeds before building (weights 'random')
    return open_cache_for_run(run, dataset)


@pytest.fixture
def setup(tmp_path):
    root = write_shapenet55(tmp_path / "data", n=6, points=256)
    cfg = guided_config(root)
    cache = tmp_path / "cache"
    build_teacher_cache(cfg, cache, batch_size=4, shard_size=4)
    return cfg, cache, tmp_path


def test_round_trip_equals_teacher_outputs(setup):
    cfg, cache_dir, _ = setup
    cache = TeacherCache(cache_dir)
    ds = build_dataset(cfg["data"]["dataset"], "train")
    torch.manual_seed(0)  # the run's seed: weights 'random' are drawn like the run's teacher
    teacher = build_teacher_from_config(cfg, torch.device("cpu"))
    points = torch.stack([ds[i]["points"] for i in range(len(ds))])
    images, mapping = project_views(points, (0, 1, 2), 64)
    feats, attn = teacher(images.flatten(0, 1))
    feats, attn = feats.unflatten(0, (len(ds), 3)), attn.unflatten(0, (len(ds), 3))
    pixels = mapping.pixels(points)
    assert len(cache.shapes) == len(ds) == 6 and cache.num_shards == 2 and not cache.missing_shards()
    for i, name in enumerate(ds.item_names()):
        got = cache.read(name)
        assert got["feats"].dtype == np.float16 and got["attn"].dtype == np.float16
        torch.testing.assert_close(torch.from_numpy(got["feats"]).float(), feats[i], rtol=1e-3, atol=1e-3)
        torch.testing.assert_close(torch.from_numpy(got["attn"]).float(), attn[i], rtol=1e-3, atol=1e-5)
        assert torch.equal(torch.from_numpy(got["pixels"]).long(), pixels[i])
    item = CachedTeacherDataset(ds, cache)[3]
    assert item["teacher_feats"].shape == (3, 8, 4, 4) and item["teacher_pixels"].shape == (3, 128, 2)
    manifest = json.loads((cache_dir / "manifest.json").read_text())
    assert manifest["teacher"]["name"] == "tiny-vit" and manifest["views"] == [0, 1, 2]
    assert [s["size"] for s in manifest["shapes"]] == [p.stat().st_size for p in
                                                       sorted((cache_dir.parent / "data").rglob("*.npy"))[:6]]


def test_interrupted_build_resumes_to_the_same_cache(setup):
    cfg, full_dir, tmp_path = setup
    part = tmp_path / "part"
    summary = build_teacher_cache(cfg, part, batch_size=4, shard_size=4, max_shards=1)  # killed after shard 0
    assert summary["missing_shards"] == 1
    half = part / ".shard-00001.tmp999"  # a half-written shard of a killed process
    half.mkdir()
    (half / "feats.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="shard-00001 is missing or unfinished"):
        TeacherCache(part).read(TeacherCache(part).shapes[5]["name"])
    with pytest.raises(ValueError, match="unfinished"):
        _open(dict(cfg, teacher=dict(cfg["teacher"], cache=str(part))),
                           build_dataset(cfg["data"]["dataset"], "train"))
    build_teacher_cache(cfg, part, batch_size=3, shard_size=4)  # resumed (another batch size: same result)
    assert not half.exists()
    for k in range(2):
        for name in ("feats", "attn", "pixels", "crc"):
            a = np.load(full_dir / f"shard-0000{k}" / f"{name}.npy")
            b = np.load(part / f"shard-0000{k}" / f"{name}.npy")
            assert a.dtype == b.dtype and np.array_equal(a, b), (k, name)


@pytest.mark.parametrize("change, message", [
    (lambda c: c["teacher"]["arch_overrides"].update(depth=2), "teacher.weights_sha256"),
    (lambda c: c["model"].update(views=[0, 2]), "views"),
    (lambda c: c["data"]["dataset"].update(npoints=64), "dataset.npoints"),
    (lambda c: c["teacher"].update(name="clip-vit-b16", weights="random", arch_overrides=dict(
        depth=1, embed_dim=32, num_heads=2, num_classes=8, img_size=64)), "teacher.name"),
])
def test_mismatched_cache_is_refused_naming_the_difference(setup, change, message):
    cfg, cache_dir, _ = setup
    run = copy.deepcopy(cfg)
    change(run)
    run["teacher"]["cache"] = str(cache_dir)
    with pytest.raises(ValueError, match=message):
        _open(run, build_dataset(run["data"]["dataset"], "train"))


def test_changed_file_and_missing_shape_are_named(setup):
    cfg, cache_dir, tmp_path = setup
    run = copy.deepcopy(cfg)
    run["teacher"]["cache"] = str(cache_dir)
    ds = build_dataset(run["data"]["dataset"], "train")
    _open(run, ds)  # matches
    extra = tmp_path / "data" / "ShapeNet55-34" / "shapenet_pc" / "02691156-extra.npy"
    np.save(extra, np.random.default_rng(0).normal(size=(256, 3)).astype(np.float32))
    listing = tmp_path / "data" / "ShapeNet55-34" / "ShapeNet-55" / "train.txt"
    listing.write_text(listing.read_text() + extra.name + "\n")
    with pytest.raises(ValueError, match="02691156-extra"):
        _open(run, build_dataset(run["data"]["dataset"], "train"))
    with pytest.raises(ValueError, match="02691156-extra"):
        CachedTeacherDataset(build_dataset(run["data"]["dataset"], "train"), TeacherCache(cache_dir))[6]
    listing.write_text("".join(listing.read_text().splitlines(keepends=True)[:-1]))
    first = ds.files[0]
    np.save(first, np.load(first)[:200])  # same name, other content
    with pytest.raises(ValueError, match=f"dataset files changed.*{first.stem}"):
        _open(run, build_dataset(run["data"]["dataset"], "train"))


def test_cli_builds_and_reports(setup, capsys):
    import yaml

    from i2pmae.cli.main import main

    cfg, cache_dir, tmp_path = setup
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["teacher", "cache", "-c", str(path), "--out", str(tmp_path / "cli"), "--shard-size", "4"]) == 0
    assert "6 shapes in 2 shards (complete)" in capsys.readouterr().out
    assert main(["teacher", "cache", "-c", str(path), "--out", str(cache_dir), "--shard-size", "3"]) == 1
    assert "error: " in capsys.readouterr().err


def _rank_build(rank, world, port, cfg, out):
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from i2pmae.engine.distributed import cleanup, init_distributed

    dist = init_distributed("cpu")
    summary = build_teacher_cache(cfg, out, batch_size=4, shard_size=2, dist=dist)
    assert summary["built_shapes"] == 4 - 2 * rank  # rank 0: shards 0 and 2, rank 1: shard 1
    cleanup()


def test_two_ranks_build_their_shards_of_the_same_cache(setup):
    import socket

    import torch.multiprocessing as mp

    cfg, _, tmp_path = setup
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank_build, args=(2, port, cfg, str(tmp_path / "ddp")), nprocs=2, join=True)
    build_teacher_cache(cfg, tmp_path / "single", batch_size=4, shard_size=2)
    for k in range(3):
        for name in ("feats", "attn", "pixels", "crc"):
            a = np.load(tmp_path / "single" / f"shard-0000{k}" / f"{name}.npy")
            assert np.array_equal(a, np.load(tmp_path / "ddp" / f"shard-0000{k}" / f"{name}.npy")), (k, name)
