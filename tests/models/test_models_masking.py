"""2D-guided and random masking, and the multi-scale propagation of the mask (docs/method.md §4)."""

from __future__ import annotations

import pytest
import torch

from i2pmae.models import I2PMAE
from i2pmae.models.masking import guided_visible, multi_scale_visible, num_visible, random_visible


def _brute_force_lower(visible_upper: torch.Tensor, idx: torch.Tensor, num_lower: int) -> torch.Tensor:
    out = torch.zeros(visible_upper.shape[0], num_lower, dtype=torch.bool)
    for b in range(idx.shape[0]):
        for g in range(idx.shape[1]):
            if visible_upper[b, g]:
                for j in idx[b, g].tolist():
                    out[b, j] = True
    return out


@pytest.mark.parametrize("masking", ["2d_guided", "random"])
def test_visible_counts_and_lower_scale_rule(masking, tiny, teacher, make_clouds):
    torch.manual_seed(0)
    model = I2PMAE(teacher if masking == "2d_guided" else None, masking=masking, mask_ratio=0.8, **tiny)
    pts = make_clouds(5)
    out = model(pts, return_details=True)
    visible = out["visible"]
    g3 = tiny["num_groups"][-1]
    assert visible[-1].sum(dim=1).tolist() == [g3 - int(0.8 * g3)] * 5
    scales = model.tokenize(pts)  # deterministic tokens: the same as inside forward
    for s in (2, 1):
        expected = _brute_force_lower(visible[s], scales[s].idx, tiny["num_groups"][s - 1])
        assert torch.equal(visible[s - 1], expected)
        assert torch.equal(out["masks"][s - 1], ~expected)
    # no token-0 side effect of the authors' code: with one visible top token, scale 1 keeps only its neighbours
    top = torch.zeros(1, g3, dtype=torch.bool)
    top[0, 3] = True
    vis = multi_scale_visible(top, [s.idx[:1] for s in scales], tiny["num_groups"])
    assert vis[1].sum() == tiny["group_sizes"][2]
    assert torch.equal(vis[0][0], _brute_force_lower(vis[1], scales[1].idx[:1], tiny["num_groups"][0])[0])


def test_num_visible_follows_the_authors_rounding():
    assert num_visible(64, 0.8) == 13
    assert num_visible(512, 0.6) == 512 - int(0.6 * 512)
    with pytest.raises(ValueError, match="mask_ratio"):
        num_visible(64, 1.0)


def test_guided_masking_prefers_high_scores_and_random_does_not():
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(400, 64, generator=g) * 0.01  # attention-like magnitudes (about 1/197)
    high = scores > scores.median(dim=1, keepdim=True).values
    guided = guided_visible(scores, 0.8, temperature=0.001, generator=g)
    uniform = random_visible(400, 64, 0.8, "cpu", generator=g)
    authors = guided_visible(scores, 0.8, temperature=1.0, generator=g)  # near-uniform default
    for vis in (guided, uniform, authors):
        assert vis.sum(dim=1).eq(13).all()

    def rates(vis):
        return vis[high].float().mean().item(), vis[~high].float().mean().item()

    hi, lo = rates(guided)
    assert hi > 2 * lo and hi - lo > 0.15  # keep rate ~13/64 overall; far from it per half
    hi_r, lo_r = rates(uniform)
    assert abs(hi_r - lo_r) < 0.03  # binomial std of each rate ~0.003 here
    hi_a, lo_a = rates(authors)
    assert abs(hi_a - lo_a) < 0.03  # T = 1 with raw attention values is nearly uniform (docs/data.md §6.5)


def test_model_keeps_high_attention_tokens_visible(tiny, teacher, make_clouds):
    """Through the whole model: the teacher's attention cloud drives the mask when the temperature is sharp."""
    torch.manual_seed(0)
    cfg = dict(tiny, num_groups=[32, 16, 8])
    pts = make_clouds(16, n=128, seed=1)
    guided = I2PMAE(teacher, mask_temperature=1e-4, reconstruct_2d=False, **cfg).eval()
    uniform = I2PMAE(None, masking="random", **cfg).eval()
    with torch.no_grad():
        out = guided(pts, return_details=True)
        vis_random = uniform(pts, return_details=True)["visible"][-1]
    cloud = out["attention_cloud"]
    assert cloud.shape == (16, 8)
    high = cloud > cloud.median(dim=1, keepdim=True).values

    def rates(vis):
        return vis[high].float().mean().item(), vis[~high].float().mean().item()

    hi, lo = rates(out["visible"][-1])
    assert hi > 0.4 and lo < 0.1  # 2 of 8 tokens visible: almost always from the high-attention half
    hi_r, lo_r = rates(vis_random)
    assert abs(hi_r - lo_r) < 0.2 and hi - lo > 2 * abs(hi_r - lo_r)
