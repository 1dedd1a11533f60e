"""Part-segmentation IoUs against a brute-force per-shape computation, accuracy, few-shot table."""

import numpy as np
import pytest
import torch

from i2pmae.tasks.metrics import (SHAPENETPART_PARTS, accuracy, fewshot_summary, part_segmentation_ious,
                                   summarise_part_ious)


def brute_force_shape_iou(logits: np.ndarray, seg: np.ndarray, parts: list[int]) -> float:
    """docs/data.md §3, written out point by point for one shape."""
    sub = logits[:, parts]  # only the category's parts
    pred = np.array([parts[0] + int(np.argmax(row)) for row in sub])
    ious = []
    for p in parts:
        inter = sum(1 for a, b in zip(pred, seg) if a == p and b == p)
        union = sum(1 for a, b in zip(pred, seg) if a == p or b == p)
        ious.append(1.0 if union == 0 else inter / union)
    return float(np.mean(ious))


def random_batch(b=12, n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    cats = torch.randint(0, 16, (b,), generator=g)
    names = list(SHAPENETPART_PARTS)
    seg = torch.empty(b, n, dtype=torch.long)
    for i, c in enumerate(cats.tolist()):
        parts = SHAPENETPART_PARTS[names[c]]
        # use only some of the category's parts so that "absent from both" happens
        used = parts[: max(1, len(parts) - 1)] if i % 2 else parts
        seg[i] = torch.tensor(used)[torch.randint(0, len(used), (n,), generator=g)]
    logits = torch.randn(b, n, 50, generator=g)
    # make predictions partly right so IoUs are spread out
    logits.scatter_add_(2, seg[..., None], 2.0 * torch.rand(b, n, 1, generator=g))
    return logits, seg, cats


def test_matches_brute_force_including_absent_parts():
    logits, seg, cats = random_batch()
    names = list(SHAPENETPART_PARTS)
    got = part_segmentation_ious(torch.log_softmax(logits, -1), seg, cats)
    ref = [brute_force_shape_iou(logits[i].numpy(), seg[i].numpy(), SHAPENETPART_PARTS[names[c]])
           for i, c in enumerate(cats.tolist())]
    assert got.shape == (12,)
    assert torch.allclose(got.double(), torch.tensor(ref, dtype=torch.float64), atol=1e-6)
    assert len(set(np.round(ref, 6))) > 5  # a real spread, not all 0 or 1
    # category taken from seg[:, 0] when not given (the authors' way) gives the same
    assert torch.allclose(part_segmentation_ious(logits, seg), got)


def test_absent_in_both_counts_one():
    # A Mug (parts 36, 37): everything is part 36 and predicted 36 -> part 37 absent from both -> IoU 1.
    logits = torch.zeros(1, 5, 50)
    logits[..., 36] = 1.0
    logits[..., 0] = 100.0  # a higher score outside the category must be ignored
    seg = torch.full((1, 5), 36)
    assert part_segmentation_ious(logits, seg, torch.tensor([11])).item() == 1.0
    # Predicting 37 everywhere: part 36 IoU 0, part 37 IoU 0 -> 0.
    logits[..., 37] = 2.0
    assert part_segmentation_ious(logits, seg, torch.tensor([11])).item() == 0.0


def test_ties_go_to_the_first_part():
    logits = torch.zeros(1, 4, 50)  # all tied: np.argmax picks the category's first part
    seg = torch.tensor([[47, 47, 48, 49]])  # Table
    # pred all 47: IoU(47)=2/4, IoU(48)=0, IoU(49)=0
    assert part_segmentation_ious(logits, seg, torch.tensor([15])).item() == pytest.approx(0.5 / 3)


def test_custom_part_ranges_and_errors():
    logits = torch.randn(2, 8, 5)
    seg = torch.tensor([[0, 1] * 4, [2, 3, 4, 2, 3, 4, 2, 3]])
    ranges = {"a": [0, 1], "b": [2, 3, 4]}
    got = part_segmentation_ious(logits, seg, torch.tensor([0, 1]), ranges)
    ref = [brute_force_shape_iou(logits[0].numpy(), seg[0].numpy(), [0, 1]),
           brute_force_shape_iou(logits[1].numpy(), seg[1].numpy(), [2, 3, 4])]
    assert torch.allclose(got.double(), torch.tensor(ref, dtype=torch.float64), atol=1e-6)
    with pytest.raises(ValueError):
        part_segmentation_ious(logits, seg[:, :4], torch.tensor([0, 1]), ranges)
    with pytest.raises(ValueError, match="category"):
        part_segmentation_ious(logits, seg, torch.tensor([0, 5]), ranges)


def test_summary_instance_and_class_miou():
    ious = torch.tensor([1.0, 0.5, 0.0, 0.75, 0.25])
    cats = torch.tensor([0, 0, 0, 3, 15])
    s = summarise_part_ious(ious, cats)
    assert s["instance_miou"] == pytest.approx(100 * 2.5 / 5)
    assert s["per_category"] == pytest.approx({"Airplane": 50.0, "Car": 75.0, "Table": 25.0})
    assert s["class_miou"] == pytest.approx(50.0)
    s2 = summarise_part_ious([0.2, 0.4], [1, 0], ["x", "y"])
    assert s2["per_category"] == pytest.approx({"x": 40.0, "y": 20.0})


def test_parts_table():
    ids = [p for parts in SHAPENETPART_PARTS.values() for p in parts]
    assert ids == list(range(50)) and len(SHAPENETPART_PARTS) == 16
    assert list(SHAPENETPART_PARTS)[4] == "Chair" and SHAPENETPART_PARTS["Motorbike"] == [30, 31, 32, 33, 34, 35]


def test_accuracy_and_fewshot_summary():
    logits = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert accuracy(logits, torch.tensor([1, 0, 0, 0])) == 75.0
    accs = {"5-way 10-shot": [96.0, 98.0, 97.0], "10-way 20-shot": [90.0, 92.0]}
    table = fewshot_summary(accs)
    for key, vals in accs.items():
        mean, std = np.mean(vals), np.std(vals)  # population std
        assert f"| {key} | {mean:.1f} ± {std:.1f} | {len(vals)} |" in table
    assert "0.8" in table  # std of [96, 98, 97] with ddof 0 is 0.816..., not 1.0 (ddof 1)
