"""Pre-training from a teacher cache: same 2D targets as the online teacher, exact resume, DDP equivalence."""

import copy
import shutil

import torch
import torch.multiprocessing as mp

from i2pmae.data import build_dataset
from i2pmae.data.teacher_cache import CachedTeacherDataset, TeacherCache, teacher_maps
from i2pmae.engine.distributed import init_distributed
from i2pmae.tasks.pretrain import build_pretrain_model, run_pretrain
from i2pmae.engine.seeding import seed_everything
from i2pmae.tasks.teacher_cache import build_teacher_cache

from helpers_cache import guided_config
from helpers_loop import write_shapenet55
from engine.test_loop_ddp import STEPS, _free_port, _losses, _worker


def _cached(tmp_path, n=8, **train):
    root = write_shapenet55(tmp_path / "data", n=n, points=256)
    cfg = guided_config(root, **train)
    build_teacher_cache(cfg, tmp_path / "cache", batch_size=8, shard_size=4)
    return cfg, dict(cfg, teacher=dict(cfg["teacher"], cache=str(tmp_path / "cache")))


def test_cache_and_online_teacher_give_the_same_targets_on_unaugmented_clouds(tmp_path):
    online_cfg, cache_cfg = _cached(tmp_path, n=4)
    torch.manual_seed(0)
    model = build_pretrain_model(online_cfg, torch.device("cpu")).eval()  # holds the online teacher
    data = CachedTeacherDataset(build_dataset(online_cfg["data"]["dataset"], "train"), TeacherCache(tmp_path / "cache"))
    batch = torch.utils.data.default_collate([data[i] for i in range(len(data))])
    points = batch["points"]  # canonical clouds, not augmented
    runs = []
    for maps in (None, teacher_maps(batch)):
        with torch.no_grad():
            runs.append(model(points, return_details=True, generator=torch.Generator().manual_seed(3),
                              teacher_maps=maps))
    online, cached = runs
    torch.testing.assert_close(cached["attention_cloud"], online["attention_cloud"], rtol=2e-3, atol=1e-5)
    for a, b in zip(online["visible"], cached["visible"]):
        assert torch.equal(a, b)  # so the targets below belong to the same points
    torch.testing.assert_close(cached["target_2d"], online["target_2d"], rtol=2e-3, atol=2e-3)
    assert torch.equal(cached["loss_3d"], online["loss_3d"])
    assert abs(float(cached["loss_2d"]) - float(online["loss_2d"])) < 1e-3 * float(online["loss_2d"])
    # Moving the points (a uniform scale keeps FPS/kNN picks) leaves each point's cached pixel, and so the
    # attention cloud, unchanged: the 2D values travel with the points.
    moved = points * 1.5 + 0.25
    with torch.no_grad():
        aug = model(moved, return_details=True, generator=torch.Generator().manual_seed(3),
                    teacher_maps=teacher_maps(batch))
    assert torch.equal(aug["attention_cloud"], cached["attention_cloud"])
    assert torch.equal(aug["target_2d"], cached["target_2d"])


def _run(cfg, run_dir, resume=False):
    seed_everything(cfg["train"]["seed"])
    return run_pretrain(copy.deepcopy(cfg), run_dir, init_distributed("cpu"), resume=resume)


def test_resume_from_cache_equals_uninterrupted(tmp_path):
    _, cfg = _cached(tmp_path, n=8, epochs=2)  # 2 steps per epoch
    full = _run(cfg, tmp_path / "full")
    assert full["global_step"] == 4
    _run(dict(cfg, train=dict(cfg["train"], max_steps=3)), tmp_path / "split")
    torch.manual_seed(1234)
    _run(cfg, tmp_path / "split", resume=True)
    a = torch.load(tmp_path / "full" / "last.pth", weights_only=True)["model"]
    b = torch.load(tmp_path / "split" / "last.pth", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not any(k.startswith(("teacher", "_teacher")) for k in a)


def test_ddp_from_cache_matches_single_process(tmp_path):
    _, cfg = _cached(tmp_path, n=16)
    sgd = dict(optimizer="sgd", lr=0.05, epochs=1)
    ddp_cfg = dict(cfg, train=dict(cfg["train"], batch_size=2, accum_steps=1, **sgd))
    single_cfg = dict(cfg, train=dict(cfg["train"], batch_size=2, accum_steps=2, **sgd))
    ddp_dir = tmp_path / "ddp"
    mp.spawn(_worker, args=(2, _free_port(), ddp_cfg, str(ddp_dir)), nprocs=2, join=True)
    ddp_losses = _losses(ddp_dir)
    assert len(ddp_losses) == STEPS
    for step in (1, STEPS):
        single_dir = tmp_path / f"single{step}"
        single_dir.mkdir()
        if step > 1:
            shutil.copy(ddp_dir / f"step{step - 1}.pth", single_dir / "last.pth")
        run = copy.deepcopy(single_cfg)
        run["train"]["max_steps"] = step
        _run(run, single_dir, resume=step > 1)
        single_loss = _losses(single_dir)[-1]
        assert abs(single_loss - ddp_losses[step - 1]) <= 1e-5 * abs(single_loss) + 1e-6, step
        rank0 = torch.load(ddp_dir / f"rank0-step{step}.pt", weights_only=True)
        single_w = torch.load(single_dir / "last.pth", weights_only=True)["model"]
        for key, value in rank0.items():
            if "running" not in key:
                torch.testing.assert_close(value, single_w[key], rtol=1e-4, atol=5e-5, msg=f"step {step} {key}")
