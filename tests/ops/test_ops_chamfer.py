import pytest
import torch

import i2pmae.ops.neighbours as neighbours
from i2pmae.ops import chamfer_distance


def chamfer_reference(a, b, kind):
    d = ((a[:, :, None, :] - b[:, None, :, :]) ** 2).sum(-1)
    ab, ba = d.min(dim=2).values, d.min(dim=1).values
    if kind == "l1":
        ab, ba = ab.sqrt(), ba.sqrt()
    return ab.mean() + ba.mean()


@pytest.mark.parametrize("kind", ["l2", "l1"])
@pytest.mark.parametrize("cloud", ["random", "duplicates", "grid"])
def test_chamfer_matches_brute_force(make_cloud, kind, cloud):
    a = make_cloud(4, 30, seed=21, kind=cloud)
    b = make_cloud(4, 17, seed=22, kind=cloud)
    torch.testing.assert_close(chamfer_distance(a, b, kind), chamfer_reference(a, b, kind))


def test_chamfer_many_small_groups(make_cloud):
    # The pre-training use: B*256 groups of 8 predicted vs 8 target points, flattened into the batch.
    a = make_cloud(2 * 256, 8, seed=23, dtype=torch.float32)
    b = make_cloud(2 * 256, 8, seed=24, dtype=torch.float32)
    torch.testing.assert_close(chamfer_distance(a, b), chamfer_reference(a, b, "l2"))
    assert chamfer_distance(a, a).item() == 0.0


def test_chamfer_bounded_chunks_same_value(make_cloud, monkeypatch):
    a = make_cloud(2, 500, seed=25).requires_grad_()
    b = make_cloud(2, 400, seed=26).requires_grad_()
    full = chamfer_distance(a, b)  # one distance matrix
    grads = torch.autograd.grad(full, (a, b))
    largest = []
    original = neighbours._sq_dist_no_grad

    def spy(q, r):
        out = original(q, r)
        largest.append(out.numel())
        return out

    monkeypatch.setattr(neighbours, "_sq_dist_no_grad", spy)
    monkeypatch.setattr(neighbours, "KNN_MEMORY_BUDGET", 2**16)  # a few queries per chunk
    chunked = chamfer_distance(a, b)
    assert chunked.item() == full.item()
    for g_chunked, g_full in zip(torch.autograd.grad(chunked, (a, b)), grads):
        torch.testing.assert_close(g_chunked, g_full)
    assert max(largest) <= 2**16 // neighbours._BYTES_PER_PAIR < 2 * 400 * 500  # never a whole distance matrix


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("kind", ["l2", "l1"])
def test_chamfer_gradcheck(make_cloud, monkeypatch, kind, chunked):
    if chunked:
        monkeypatch.setattr(neighbours, "KNN_MEMORY_BUDGET", 100)
    a = make_cloud(2, 6, seed=27).requires_grad_()
    b = make_cloud(2, 5, seed=28).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, y: chamfer_distance(x, y, kind), (a, b))


def test_chamfer_l1_gradient_finite_on_coincident_points(make_cloud):
    a = make_cloud(1, 6, seed=29).requires_grad_()
    chamfer_distance(a, a.detach().clone(), "l1").backward()
    assert torch.isfinite(a.grad).all()


@pytest.mark.parametrize("bad, message", [
    (lambda: chamfer_distance(torch.rand(2, 4, 3), torch.rand(2, 5, 3), "l3"), "kind"),
    (lambda: chamfer_distance(torch.rand(2, 4, 3), torch.rand(1, 5, 3)), "batch sizes differ"),
    (lambda: chamfer_distance(torch.rand(2, 0, 3), torch.rand(2, 5, 3)), "at least 1 point"),
    (lambda: chamfer_distance(torch.rand(2, 4, 3), torch.rand(2, 5, 3).double()), "same dtype"),
    (lambda: chamfer_distance(torch.full((1, 2, 3), float("nan")), torch.rand(1, 5, 3)), "NaN/Inf"),
])
def test_chamfer_bad_inputs(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()
