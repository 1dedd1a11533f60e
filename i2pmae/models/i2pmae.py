"""The I2P-MAE pre-training network (docs/method.md §1-5), readable top to bottom like the MAE reference.

forward(points):
 1. tokenize: FPS + kNN at every scale (512/256/64 tokens);
 2. project the cloud to V depth maps and run the frozen 2D teacher on all of them as one batch
    (or take its outputs for the canonical cloud from a teacher cache, ``teacher_maps``);
 3. mask: back-project the teacher's attention to the top-scale centres (the "attention cloud"),
    keep 13 of 64 tokens drawn from softmax(cloud / temperature) (or uniformly, ``masking="random"``),
    and propagate visibility to the lower scales;
 4. encode the visible tokens of every scale (hierarchical encoder);
 5. decode: top scale = visible encoder outputs + mask tokens, then token propagation to scale 2;
 6. reconstruct: masked scale-2 tokens -> their 8 neighbours' xyz (Chamfer L2); visible scale-2
    tokens -> the teacher's features at their 8 neighbours, views concatenated (MSE).

The 2D teacher is held but not registered as a submodule: it is neither in ``state_dict()`` nor in
``parameters()`` (so the 3D network's keys are exactly the authors' and DDP / the optimiser never see
it), yet ``.to()`` / ``.cuda()`` / ``.half()`` move it along, and it always stays in eval mode.

Initialisation follows the authors' code: the encoder (token embedding, positional MLPs, blocks,
norms) truncated normal 0.02 / zeros / (1, 0); decoder blocks Xavier-uniform; the mask token
truncated normal; decoder positional MLPs, token propagation and the two heads keep PyTorch's
defaults (the authors never re-initialise them).  ``encoder_norms`` of scales below the
reconstructed one feed no loss and are frozen (they stay at (1, 0), as in the authors' training).
Differences from the authors' code, on purpose (docs/method.md §8): no token-0-always-visible side effect of
the mask propagation; with ``local_radius`` > 0 in pre-training the radius mask really applies
(the authors' product with the padding mask disabled it; the paper uses radius 0 there anyway).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2pmae.ops import chamfer_distance
from i2pmae.projection import back_project, back_project_pixels, project_views

from .checkpoint import load_matching
from .encoder import HierarchicalEncoder, Packed
from .layers import (
    TokenPropagation,
    TransformerStage,
    drop_path_schedule,
    init_trunc_normal,
    init_xavier,
    position_mlp,
    trunc_normal_,
)
from .masking import MASKINGS, guided_visible, multi_scale_visible, random_visible, reduce_views
from .tokenizer import Scale, multi_scale_tokens

log = logging.getLogger("i2pmae")

TARGET_REDUCTIONS = ("concat", "mean")
FUSIONS = ("none", "add", "concat")
POOLINGS = ("max", "mean", "add", "concat")
DEFAULT_FEATURE_DIM_2D = 512  # CLIP ViT-B/16 after its visual projection


def pool_tokens(x: Tensor, how: str) -> Tensor:
    """Global feature of tokens (B, G, C): max, mean, max + mean (add) or [mean, max] (concat)."""
    if how == "max":
        return x.amax(dim=1)
    if how == "mean":
        return x.mean(dim=1)
    if how == "add":
        return x.mean(dim=1) + x.amax(dim=1)
    if how == "concat":
        return torch.cat([x.mean(dim=1), x.amax(dim=1)], dim=-1)
    raise ValueError(f"pooling must be one of {POOLINGS}; received {how!r}")


def _cloud_indices(scales: Sequence[Scale]) -> list[Tensor]:
    """For every scale, the indices (B, G) of its centres among the input points (FPS indices composed)."""
    out: list[Tensor] = []
    for s in scales:
        if s.sample_idx is None:
            raise ValueError("tokens without sample_idx cannot be traced back to their input points")
        out.append(s.sample_idx if not out else torch.gather(out[-1], 1, s.sample_idx))
    return out


def _gather_pixels(pixels: Tensor, idx: Tensor) -> Tensor:
    """Pixels (B, V, M, 2) of the input points ``idx`` (B, M) from every point's pixels (B, V, N, 2)."""
    B, V = pixels.shape[:2]
    index = idx[:, None, :, None].expand(B, V, idx.shape[1], 2)
    return torch.gather(pixels, 2, index)


def _weights(loss_weights: Mapping[str, float] | Sequence[float] | None) -> tuple[float, float]:
    if loss_weights is None:
        return 1.0, 1.0
    if isinstance(loss_weights, Mapping):
        unknown = set(map(str, loss_weights)) - {"3d", "2d"}
        if unknown:
            raise ValueError(f"loss_weights takes the keys '3d' and '2d'; received {sorted(loss_weights)}")
        return float(loss_weights.get("3d", 1.0)), float(loss_weights.get("2d", 1.0))
    if len(loss_weights) != 2:
        raise ValueError(f"loss_weights must be {{'3d': w, '2d': w}} or [w_3d, w_2d]; received {loss_weights!r}")
    return float(loss_weights[0]), float(loss_weights[1])


class I2PMAE(nn.Module):
    """I2P-MAE pre-training network; ``teacher`` maps images (N, 3, S, S) to (features (N, C, h, w),
    attention (N, h, w)) and is only needed for 2D-guided masking, 2D targets or 2D feature fusion."""

    def __init__(
        self,
        teacher: nn.Module | None = None,
        *,
        num_groups: Sequence[int] = (512, 256, 64),
        group_sizes: Sequence[int] = (16, 8, 8),
        encoder_dims: Sequence[int] = (96, 192, 384),
        encoder_depths: Sequence[int] = (5, 5, 5),
        num_heads: int = 6,
        drop_path_rate: float = 0.1,
        embed_widths: Sequence[int] = (128, 256, 512),
        decoder_dims: Sequence[int] = (384, 192),
        decoder_depths: Sequence[int] = (1, 1),
        decoder_up_blocks: int = 1,
        local_radius: Sequence[float] = (0.0, 0.0, 0.0),
        mask_ratio: float = 0.8,
        masking: str = "2d_guided",
        mask_temperature: float = 1.0,
        attention_reduction: str = "mean",
        target_reduction: str = "concat",
        views: Sequence[int] = (0, 1, 2),
        loss_weights: Mapping[str, float] | Sequence[float] | None = None,
        fusion: str = "none",
        reconstruct_2d: bool | None = None,
        feature_dim_2d: int | None = None,
        image_size: int = 224,
        feature_pooling: str = "max",
        features_all_tokens: bool = False,
    ) -> None:
        super().__init__()
        n_scales = len(num_groups)
        if not (len(group_sizes) == len(encoder_dims) == n_scales):
            raise ValueError(f"num_groups {list(num_groups)}, group_sizes {list(group_sizes)} and encoder_dims "
                             f"{list(encoder_dims)} must have one entry per scale")
        if any(b >= a for a, b in zip(num_groups, num_groups[1:])):
            raise ValueError(f"num_groups must decrease from scale to scale; received {list(num_groups)}")
        if not 1 <= len(decoder_dims) <= n_scales or len(decoder_depths) != len(decoder_dims):
            raise ValueError(f"decoder_dims {list(decoder_dims)} and decoder_depths {list(decoder_depths)} need the "
                             f"same length, between 1 and the number of scales ({n_scales})")
        if decoder_dims[0] != encoder_dims[-1]:
            raise ValueError(f"decoder_dims[0] ({decoder_dims[0]}) must equal encoder_dims[-1] ({encoder_dims[-1]}): "
                             f"the top decoder stage starts from the encoder's tokens")
        for name, value, allowed in (("masking", masking, MASKINGS), ("target_reduction", target_reduction,
                                     TARGET_REDUCTIONS), ("fusion", fusion, FUSIONS), ("feature_pooling",
                                     feature_pooling, POOLINGS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}; received {value!r}")
        reduce_views(torch.zeros(1, 1), attention_reduction)  # validates the name
        views = tuple(int(v) for v in views)
        if not views or len(set(views)) != len(views) or any(v not in (0, 1, 2) for v in views):
            raise ValueError(f"views must be distinct entries of (0, 1, 2); received {list(views)}")
        if not mask_temperature > 0:
            raise ValueError(f"mask_temperature must be > 0; received {mask_temperature}")

        self.num_groups = [int(g) for g in num_groups]
        self.group_sizes = [int(k) for k in group_sizes]
        self.mask_ratio = float(mask_ratio)
        self.masking = masking
        self.mask_temperature = float(mask_temperature)
        self.attention_reduction = attention_reduction
        self.target_reduction = target_reduction
        self.views = views
        self.loss_weight_3d, self.loss_weight_2d = _weights(loss_weights)
        self.fusion = fusion
        self.reconstruct_2d = (masking == "2d_guided") if reconstruct_2d is None else bool(reconstruct_2d)
        self.image_size = int(image_size)
        self.feature_pooling = feature_pooling
        self.features_all_tokens = bool(features_all_tokens)
        self.needs_teacher = masking == "2d_guided" or self.reconstruct_2d or fusion != "none"
        object.__setattr__(self, "_teacher", None)  # not a registered submodule, see the module docstring
        self.feature_dim_2d = self._resolve_feature_dim(teacher, feature_dim_2d)
        # The scale whose masked/visible tokens are reconstructed: the last one the decoder reaches.
        self.rec_scale = n_scales - len(decoder_dims)

        # Hierarchical encoder (visible tokens only).
        self.h_encoder = HierarchicalEncoder(encoder_dims, encoder_depths, num_heads, drop_path_rate,
                                             local_radius, with_norms=True, embed_widths=embed_widths)
        # The LayerNorms of scales below the reconstructed one feed no loss (scale 1 in the paper, as in the
        # authors' code, where they stay at (1, 0)); frozen so DDP needs no find_unused_parameters.
        for norm in list(self.h_encoder.encoder_norms)[: n_scales - len(decoder_dims)]:
            norm.requires_grad_(False)

        # Hierarchical decoder: mask token, one transformer stage per decoded scale, token propagation.
        self.mask_token = nn.Parameter(torch.zeros(1, decoder_dims[0]))
        trunc_normal_(self.mask_token, std=0.02)
        rates = drop_path_schedule(drop_path_rate, decoder_depths)
        self.h_decoder = nn.ModuleList()
        self.decoder_pos_embeds = nn.ModuleList()
        self.token_prop = nn.ModuleList()
        for i, (dim, depth) in enumerate(zip(decoder_dims, decoder_depths)):
            stage = TransformerStage(dim, depth, num_heads, rates[i])
            stage.apply(init_xavier)
            self.h_decoder.append(stage)
            self.decoder_pos_embeds.append(position_mlp(dim))
            if i > 0:
                skip = encoder_dims[n_scales - 1 - i]
                self.token_prop.append(TokenPropagation(skip, decoder_dims[i - 1], dim, blocks=decoder_up_blocks))
        self.decoder_norm = nn.LayerNorm(decoder_dims[-1])
        views_in_target = len(views) if target_reduction == "concat" else 1

        # Optional (supplementary 5): back-projected 2D features fused into the top decoder tokens.
        if fusion != "none":
            f_dim = views_in_target * self.feature_dim_2d
            in_dim = f_dim if fusion == "add" else f_dim + decoder_dims[0]
            self.fusion_proj = nn.Linear(in_dim, decoder_dims[0])
            init_trunc_normal(self.fusion_proj)

        # Reconstruction heads: 3D coordinates of masked tokens, 2D features of visible ones.
        k_rec = self.group_sizes[self.rec_scale]
        self.rec_head_3d = nn.Conv1d(decoder_dims[-1], 3 * k_rec, 1)
        if self.reconstruct_2d:
            self.rec_head_2d = nn.Conv1d(decoder_dims[-1], views_in_target * self.feature_dim_2d * k_rec, 1)
        if teacher is not None:
            self.set_teacher(teacher)

    # ------------------------------------------------------------------ teacher handling
    def _resolve_feature_dim(self, teacher: nn.Module | None, configured: int | None) -> int:
        if teacher is not None:
            found = getattr(teacher, "feature_dim", None)
            if found is None:  # probe once: the interface only promises the output shapes
                with torch.no_grad():
                    p = next(teacher.parameters(), None)
                    probe = torch.zeros(1, 3, self.image_size, self.image_size,
                                        device=p.device if p is not None else "cpu",
                                        dtype=p.dtype if p is not None and p.is_floating_point() else torch.float32)
                    found = teacher(probe)[0].shape[1]
            found = int(found)
            if configured is not None and int(configured) != found:
                raise ValueError(f"feature_dim_2d={configured} in the config but the teacher's features are "
                                 f"{found}-d; drop feature_dim_2d or use the matching teacher")
            return found
        if configured is not None:
            return int(configured)
        if self.reconstruct_2d or self.fusion != "none":
            log.info("I2PMAE built without a 2D teacher; assuming %d-d 2D features (CLIP ViT-B/16)",
                     DEFAULT_FEATURE_DIM_2D)
        return DEFAULT_FEATURE_DIM_2D

    @property
    def teacher(self) -> nn.Module | None:
        return self._teacher

    def set_teacher(self, teacher: nn.Module | None) -> None:
        """Attach (or detach with None) the frozen 2D model; it is put in eval mode without gradients."""
        if teacher is not None:
            found = getattr(teacher, "feature_dim", None)
            if found is not None and int(found) != self.feature_dim_2d:
                raise ValueError(f"the teacher's features are {found}-d but this network was built for "
                                 f"{self.feature_dim_2d}-d 2D features")
            teacher.eval()
            teacher.requires_grad_(False)
        object.__setattr__(self, "_teacher", teacher)

    def _apply(self, fn, recurse: bool = True):  # device / dtype moves also move the teacher
        super()._apply(fn, recurse)
        if self._teacher is not None:
            self._teacher._apply(fn)
        return self

    def train(self, mode: bool = True) -> I2PMAE:
        super().train(mode)
        if self._teacher is not None:
            self._teacher.eval()
        return self

    def run_teacher(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher on all views of all clouds as one batch: images (B, V, 3, S, S) ->
        (features (B, V, C, h, w), attention (B, V, h, w)), float32, without gradients."""
        if self._teacher is None:
            raise ValueError(f"this I2PMAE (masking={self.masking!r}, reconstruct_2d={self.reconstruct_2d}, "
                             f"fusion={self.fusion!r}) needs a 2D teacher: pass teacher= to build_model / I2PMAE "
                             f"or call set_teacher(), or pre-train with masking='random'")
        B, V = images.shape[:2]
        flat = images.transpose(0, 1).reshape(V * B, *images.shape[2:])  # view-major, like the authors
        p = next(self._teacher.parameters(), None)
        if p is not None and p.is_floating_point():
            flat = flat.to(p.dtype)
        with torch.no_grad():
            feats, attn = self._teacher(flat)
        if feats.dim() != 4 or feats.shape[0] != V * B or feats.shape[1] != self.feature_dim_2d:
            raise ValueError(f"the teacher must return features ({V * B}, {self.feature_dim_2d}, h, w); "
                             f"received {tuple(feats.shape)}")
        if attn.dim() != 3 or attn.shape[0] != V * B:
            raise ValueError(f"the teacher must return attention ({V * B}, h, w); received {tuple(attn.shape)}")
        feats = feats.float().reshape(V, B, *feats.shape[1:]).transpose(0, 1)
        attn = attn.float().reshape(V, B, *attn.shape[1:]).transpose(0, 1)
        return feats, attn

    # ------------------------------------------------------------------ encoder
    def tokenize(self, points: Tensor) -> list[Scale]:
        return multi_scale_tokens(points, self.num_groups, self.group_sizes)

    def encode(self, scales: Sequence[Scale], visible_top: Tensor | None) -> tuple[list[Tensor], list[Tensor]]:
        """Visibility of every scale propagated from ``visible_top`` (B, G_top) (None: all top tokens) and
        the encoder's per-scale outputs (zeros at masked tokens)."""
        top = scales[-1]
        if visible_top is None:
            visible_top = torch.ones(top.centres.shape[:2], dtype=torch.bool, device=top.centres.device)
        visible = multi_scale_visible(visible_top, [s.idx for s in scales], [s.num_tokens for s in scales])
        return visible, self.h_encoder(scales, visible)

    @torch.no_grad()
    def extract_features(self, points: Tensor, pooling: str | None = None,
                         all_tokens: bool | None = None) -> Tensor:
        """Linear-SVM features (B, C_top) (C_top * 2 for concat): top-scale encoder tokens after
        ``encoder_norms[-1]``, max-pooled by default, no masking.

        By default the authors' eval-time rule applies (docs/data.md §6.4): a lower-scale token that is in no
        upper token's neighbourhood is left out of that scale's attention (the published SVM numbers
        were computed that way).  ``all_tokens=True`` (or ``features_all_tokens`` in the config) keeps all.
        """
        scales = self.tokenize(points)
        keep_all = self.features_all_tokens if all_tokens is None else all_tokens
        if keep_all:
            top = self.h_encoder(scales, None)[-1]
        else:
            top = self.encode(scales, None)[1][-1]
        return pool_tokens(top, pooling or self.feature_pooling)

    # ------------------------------------------------------------------ forward
    def forward(self, points: Tensor, return_details: bool = False,
                generator: torch.Generator | None = None,
                teacher_maps: Mapping[str, Tensor] | None = None) -> dict[str, Any]:
        """Losses ``loss``, ``loss_3d``, ``loss_2d`` of one pre-training step on ``points`` (B, N, 3); with
        ``return_details`` also everything needed to draw the step (all detached).

        ``teacher_maps`` (pre-training from a teacher cache) replaces step 2: ``feats`` (B, V, C, h, w) and
        ``attn`` (B, V, h, w) of each cloud's canonical projection and ``pixels`` (B, V, N, 2), every input
        point's pixel in it; 2D values are then read at a point's own cached pixel (attached by identity),
        so augmenting ``points`` cannot misalign them."""
        # 1. Multi-scale tokens.
        scales = self.tokenize(points)
        top, rec = scales[-1], scales[self.rec_scale]
        B = points.shape[0]

        # 2. Depth maps of every view through the frozen 2D teacher (one batch), or the cached maps.
        feats_2d = attention_cloud = images = mapping = None
        at_points = None  # (maps, points (B, M, 3), cloud indices (B, M)) -> (B, V, M, C)
        if self.needs_teacher and teacher_maps is not None:
            feats_2d, attn_2d, pixels = self._cached_maps(teacher_maps, points)
            cloud_idx = _cloud_indices(scales)

            def at_points(maps: Tensor, where: Tensor, idx_of: Tensor) -> Tensor:
                return back_project_pixels(maps, _gather_pixels(pixels, idx_of), self.image_size)
        elif self.needs_teacher:
            images, mapping = project_views(points.detach().float(), self.views, self.image_size)
            feats_2d, attn_2d = self.run_teacher(images)  # (B, V, C, h, w), (B, V, h, w)
            cloud_idx = [None] * len(scales)

            def at_points(maps: Tensor, where: Tensor, idx_of: Tensor | None) -> Tensor:
                return back_project(maps, where.detach().float(), mapping)

        # 3. Top-scale mask (2D-guided or random), propagated to the lower scales.
        if self.masking == "2d_guided":
            cloud = at_points(attn_2d.unsqueeze(2), top.centres, cloud_idx[-1])[..., 0]  # (B, V, G)
            attention_cloud = reduce_views(cloud, self.attention_reduction, dim=1)  # (B, G)
            visible_top = guided_visible(attention_cloud, self.mask_ratio, self.mask_temperature, generator)
        else:
            visible_top = random_visible(B, top.num_tokens, self.mask_ratio, points.device, generator)

        # 4. Hierarchical encoder on the visible tokens.
        visible, encoded = self.encode(scales, visible_top)

        # 5. Hierarchical decoder.
        x = torch.where(visible[-1].unsqueeze(-1), encoded[-1], self.mask_token.to(encoded[-1].dtype))
        if self.fusion != "none":
            f = self._views_combined(at_points(feats_2d, top.centres, cloud_idx[-1]))  # (B, G, D)
            f = f.to(x.dtype)
            x = x + self.fusion_proj(f) if self.fusion == "add" else self.fusion_proj(torch.cat([x, f], dim=-1))
        for i, stage in enumerate(self.h_decoder):
            s = len(scales) - 1 - i
            if i > 0:
                x = self.token_prop[i - 1](scales[s].centres, scales[s + 1].centres, encoded[s], x)
            x = stage(x, self.decoder_pos_embeds[i](scales[s].centres))
        x = self.decoder_norm(x)  # (B, G_rec, C)

        # 6a. 3D-coordinate reconstruction of the masked tokens (Chamfer L2 on their k neighbours).
        k = rec.group_size
        masked = ~visible[self.rec_scale]
        pred_3d = self.rec_head_3d(x.transpose(1, 2)).transpose(1, 2).reshape(B, -1, k, 3)
        if bool(masked.any()):
            loss_3d = chamfer_distance(pred_3d[masked].float(), rec.relative[masked].float())
        else:
            loss_3d = pred_3d.sum() * 0.0

        # 6b. 2D-semantic reconstruction of the visible tokens (MSE to the teacher's features at their k neighbours).
        if self.reconstruct_2d:
            vis = visible[self.rec_scale]
            pred_2d = self.rec_head_2d(x[vis].unsqueeze(-1)).reshape(-1, k, self.rec_head_2d.out_channels // k)
            packed = Packed.from_visible(vis)
            where = packed.gather(rec.absolute).reshape(B, -1, 3)  # (B, L * k, 3)
            where_idx = None
            if teacher_maps is not None:  # cloud indices of the same neighbours
                below = cloud_idx[self.rec_scale - 1] if self.rec_scale > 0 else None
                nbr = rec.idx if below is None else torch.gather(
                    below, 1, rec.idx.reshape(B, -1)).reshape(rec.idx.shape)
                where_idx = packed.gather(nbr).reshape(B, -1)
            target = self._views_combined(at_points(feats_2d, where, where_idx))
            target = target.reshape(B, packed.order.shape[1], k, -1)[packed.valid]  # (L_vis, k, D)
            loss_2d = F.mse_loss(pred_2d.float(), target)
        else:
            loss_2d = torch.zeros((), device=points.device)

        out: dict[str, Any] = {
            "loss": self.loss_weight_3d * loss_3d + self.loss_weight_2d * loss_2d,
            "loss_3d": loss_3d,
            "loss_2d": loss_2d,
        }
        if return_details:
            out.update(self._details(points, scales, visible, attention_cloud, pred_3d, images))
            out["target_2d"] = target.detach() if self.reconstruct_2d else None
        return out

    def _cached_maps(self, teacher_maps: Mapping[str, Tensor], points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Checked, float32 (features, attention) and long pixels of a batch of cached teacher outputs."""
        missing = [k for k in ("feats", "attn", "pixels") if k not in teacher_maps]
        if missing:
            raise ValueError(f"teacher_maps needs 'feats', 'attn' and 'pixels'; missing {missing}")
        feats, attn, pixels = teacher_maps["feats"], teacher_maps["attn"], teacher_maps["pixels"]
        B, N = points.shape[:2]
        V = len(self.views)
        if feats.dim() != 5 or tuple(feats.shape[:3]) != (B, V, self.feature_dim_2d):
            raise ValueError(f"cached features must be (B, V, C, h, w) = ({B}, {V}, {self.feature_dim_2d}, h, w); "
                             f"received {tuple(feats.shape)}")
        if attn.dim() != 4 or tuple(attn.shape) != (B, V, *feats.shape[3:]):
            raise ValueError(f"cached attention must be ({B}, {V}, {feats.shape[3]}, {feats.shape[4]}); "
                             f"received {tuple(attn.shape)}")
        if tuple(pixels.shape) != (B, V, N, 2):
            raise ValueError(f"cached pixels must be (B, V, N, 2) = ({B}, {V}, {N}, 2) for points "
                             f"{tuple(points.shape)}; received {tuple(pixels.shape)}")
        return feats.float(), attn.float(), pixels.long()

    def _views_combined(self, per_view: Tensor) -> Tensor:
        """(B, V, M, C) back-projected features -> (B, M, V*C) concatenated by view, or (B, M, C) averaged."""
        if self.target_reduction == "mean":
            return per_view.mean(dim=1)
        B, V, M, C = per_view.shape
        return per_view.permute(0, 2, 1, 3).reshape(B, M, V * C)

    def _details(self, points: Tensor, scales: Sequence[Scale], visible: Sequence[Tensor],
                 attention_cloud: Tensor | None, pred_3d: Tensor, images: Tensor | None) -> dict[str, Any]:
        rec = scales[self.rec_scale]
        return {
            "points": points.detach(),
            "centres": [s.centres.detach() for s in scales],
            "visible": [v.detach() for v in visible],
            "masks": [~v.detach() for v in visible],  # True = masked, the authors' convention
            "attention_cloud": None if attention_cloud is None else attention_cloud.detach(),
            "rec_scale": self.rec_scale,
            # (B, G_rec, k, 3) absolute coordinates; the reconstruction is trained on masked tokens only
            # (``masks[rec_scale]``); the target is each token's k nearest points of the scale below.
            "reconstruction": (pred_3d.detach().float() + rec.centres.detach().unsqueeze(2)),
            "target": rec.absolute.detach(),
            "images": None if images is None else images.detach(),
        }

    def load_pretrained(self, state_dict: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        """Load a checkpoint (the authors' ``base_model`` or ours, ``module.`` stripped); logs and returns
        (missing, unexpected) keys."""
        return load_matching(self, state_dict, "I2PMAE")
