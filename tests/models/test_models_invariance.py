"""Padding never changes a cloud's result: batch invariance of the encoder paths (eval mode)."""

from __future__ import annotations

import torch

from i2pmae.models import I2PMAE, I2PMAEClassifier
from i2pmae.models.encoder import attention_bias


def test_extract_features_same_alone_and_in_a_batch(tiny, make_clouds):
    torch.manual_seed(0)
    model = I2PMAE(None, masking="random", **tiny).eval()
    pts = make_clouds(4)
    visible, _ = model.encode(model.tokenize(pts), None)
    counts = visible[0].sum(dim=1)
    assert len(set(counts.tolist())) > 1  # the eval-time rule gives the clouds different token counts
    assert (counts < tiny["num_groups"][0]).all()  # ... so padding and key masking are exercised
    batched = model.extract_features(pts)
    for b in range(4):
        alone = model.extract_features(pts[b:b + 1])
        assert torch.allclose(alone[0], batched[b], atol=1e-5)
    # keeping all tokens is a different (documented) choice
    assert not torch.allclose(model.extract_features(pts, all_tokens=True), batched, atol=1e-3)


def test_masked_encoder_same_alone_and_in_a_batch(tiny, make_clouds):
    """The pre-training encoder path with random masks: every scale's visible outputs are batch-independent."""
    torch.manual_seed(0)
    model = I2PMAE(None, masking="random", **tiny).eval()
    pts = make_clouds(5, seed=3)
    scales = model.tokenize(pts)
    g = torch.Generator().manual_seed(1)
    top = torch.rand(5, tiny["num_groups"][-1], generator=g) < torch.linspace(0.2, 0.9, 5).unsqueeze(1)
    top[:, 0] = True
    with torch.no_grad():
        visible, batched = model.encode(scales, top)
        for b in range(5):
            single = model.tokenize(pts[b:b + 1])
            vis_b, alone = model.encode(single, top[b:b + 1])
            for s in range(3):
                assert torch.equal(vis_b[s][0], visible[s][b])
                assert torch.allclose(alone[s][0], batched[s][b], atol=1e-5)
                assert batched[s][b][~visible[s][b]].abs().sum() == 0  # masked tokens are zeros
    assert len(set(visible[0].sum(dim=1).tolist())) > 1


def test_all_visible_packing_equals_the_unmasked_path(tiny, make_clouds):
    torch.manual_seed(0)
    model = I2PMAE(None, masking="random", **tiny).eval()
    scales = model.tokenize(make_clouds(3))
    all_vis = [torch.ones(3, g, dtype=torch.bool) for g in tiny["num_groups"]]
    with torch.no_grad():
        plain = model.h_encoder(scales, None)
        packed = model.h_encoder(scales, all_vis)
    for a, b in zip(plain, packed):
        assert torch.allclose(a, b, atol=1e-5)


def test_attention_bias_matches_brute_force(make_clouds):
    centres = make_clouds(2, n=12)
    valid = torch.tensor([[True] * 12, [True] * 7 + [False] * 5])
    bias = attention_bias(centres, valid, radius=0.6)[:, 0]
    for b in range(2):
        for q in range(12):
            for k in range(12):
                blocked = (not valid[b, k]) or (centres[b, q] - centres[b, k]).norm() >= 0.6
                assert bias[b, q, k].item() == (-100000.0 if blocked and q != k else 0.0)
    assert attention_bias(centres, None, 0.0) is None


def test_classifier_local_attention(tiny_encoder, make_clouds):
    """A radius larger than the cloud changes nothing; a small radius changes the logits; batch invariance."""
    torch.manual_seed(0)
    pts = make_clouds(3)
    kw = dict(tiny_encoder, num_classes=5)
    ref = I2PMAEClassifier(local_radius=[0, 0, 0], **kw).eval()
    big = I2PMAEClassifier(local_radius=[10, 10, 10], **kw).eval()
    small = I2PMAEClassifier(local_radius=[0.2, 0.4, 0.8], **kw).eval()
    big.load_state_dict(ref.state_dict())
    small.load_state_dict(ref.state_dict())
    with torch.no_grad():
        base = ref(pts)
        assert torch.allclose(big(pts), base, atol=1e-5)
        local = small(pts)
        assert not torch.allclose(local, base, atol=1e-4)
        assert torch.allclose(small(pts[1:2])[0], local[1], atol=1e-5)
