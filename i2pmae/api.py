"""The public Python API: named models, pre-trained encoders, and the Hugging Face folder layout.

Thin over :mod:`i2pmae.models`: a name is a shipped config's ``model:`` section (one source of truth for
sizes), weights load through the same readers as the commands (ours, the authors', Point-M2AE's), and
:class:`Encoder` is what ``i2pmae embed`` runs, so features from Python and from the command are equal.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

# the encoder of checkpoints that store no config (the authors' and Point-M2AE's pre-train.pth)
DEFAULT_ENCODER_CONFIG = "pretrain/i2p-mae"

log = logging.getLogger("i2pmae")

# name -> the shipped config whose model: section defines it
MODEL_CONFIGS: dict[str, str] = {
    "i2pmae-pretrain": "pretrain/i2p-mae",        # the paper's pre-training network (ShapeNet-55, CLIP)
    "i2pmae-pretrain-w-o-2d": "pretrain/w-o-2d",  # the 3D-only baseline
    "i2pmae-quickstart": "quickstart",            # the built-in miniature's size
    "i2pmae-modelnet40": "finetune/modelnet40",
    "i2pmae-scan-objbg": "finetune/scan_objbg",
    "i2pmae-scan-obj": "finetune/scan_obj",
    "i2pmae-scan-pb": "finetune/scan_pb",
    "i2pmae-partseg": "segmentation/shapenetpart",
}
CONFIG_FILE, WEIGHTS_FILE, CARD_FILE = "config.json", "model.safetensors", "README.md"


def list_models() -> list[str]:
    """Names :func:`create_model` accepts."""
    return sorted(MODEL_CONFIGS)


def model_config(name: str) -> dict[str, Any]:
    """The ``model:`` section of a named architecture."""
    from i2pmae.engine.config import load_config

    if name not in MODEL_CONFIGS:
        raise ValueError(f"unknown model {name!r}; i2pmae.list_models() gives: {', '.join(list_models())}")
    return dict(load_config(MODEL_CONFIGS[name])["model"])


def create_model(name: str, pretrained: str | os.PathLike | None = None, **overrides: Any) -> nn.Module:
    """A named network (``list_models()``), optionally with weights from a checkpoint (ours, the authors',
    Point-M2AE's), a :func:`save_pretrained` folder or a Hugging Face repo id. ``overrides`` replace keys
    of the model config (an unknown key is refused, listing the accepted ones). A pre-training checkpoint
    given to a classifier or segmentation network loads its encoder (the head stays initialised), as
    fine-tuning does."""
    from i2pmae.models import build_model

    cfg = {**model_config(name), **overrides}
    state = _weights(pretrained) if pretrained is not None else None
    if state is not None:
        cfg = fit_2d_width(cfg, state)
    model = build_model(cfg)
    model.i2pmae_config = cfg
    if state is not None and _is_encoder_only(model, state):
        # a pre-training checkpoint into a classifier / segmentation network: its encoder, the task's head
        # left at initialisation, as `i2pmae finetune --pretrained` loads it
        model.load_pretrained(state)
    elif state is not None:
        _load_into(model, state, str(pretrained))
    return model


def _is_encoder_only(model: nn.Module, state: Mapping[str, torch.Tensor]) -> bool:
    """Whether ``state`` holds all of a fine-tuning network's encoder but not its task head."""
    own = model.state_dict()
    encoder = [k for k in own if k.startswith("h_encoder.")]
    return (hasattr(model, "load_pretrained") and bool(encoder) and all(k in state for k in encoder)
            and any(k not in state for k in own))


def fit_2d_width(model_cfg: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """The model config with ``feature_dim_2d`` read off a checkpoint's 2D head: the pre-training network
    takes that width from its teacher, which a saved network no longer has."""
    from i2pmae.models import build_model

    cfg = dict(model_cfg)
    head = state.get("rec_head_2d.weight")
    if cfg.get("name") != "I2PMAE" or head is None or cfg.get("feature_dim_2d") is not None:
        return cfg
    probe = build_model(cfg)  # the width its teacher-less default gives
    default, built = probe.feature_dim_2d, probe.rec_head_2d.out_channels
    if head.shape[0] != built:
        cfg["feature_dim_2d"] = default * int(head.shape[0]) // built
    return cfg


def _weights(source: str | os.PathLike) -> dict[str, torch.Tensor]:
    from i2pmae.engine.runs import load_weights

    folder = _pretrained_folder(source) if not Path(source).is_file() else None
    return load_weights(folder / WEIGHTS_FILE if folder is not None else source)


def _load_into(model: nn.Module, state: Mapping[str, torch.Tensor], where: str) -> None:
    """Every weight of ``model`` from ``state`` (extra keys, such as a pre-training decoder, are ignored)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise ValueError(f"{where}: {len(missing)} weights of this model are missing, e.g. {missing[:3]}; "
                         "is it a checkpoint of this architecture?")
    bad = [k for k in own if state[k].shape != own[k].shape]
    if bad:
        raise ValueError(f"{where}: shapes differ for {bad[:3]} (checkpoint {tuple(state[bad[0]].shape)} vs "
                         f"model {tuple(own[bad[0]].shape)})")
    model.load_state_dict({k: state[k] for k in own})


# ---------------------------------------------------------------- Hugging Face layout
def _pretrained_folder(source: str | os.PathLike) -> Path:
    """A local folder holding config.json + model.safetensors, or the snapshot of a Hugging Face repo id
    (the local cache first; downloaded only when online)."""
    path = Path(source)
    if path.is_dir():
        if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
            raise FileNotFoundError(f"{path}: not a pretrained folder (needs {CONFIG_FILE} and {WEIGHTS_FILE}; "
                                    "`i2pmae export RUN --out DIR` makes one from a run)")
        return path
    text = str(source)
    if path.exists() or text.count("/") != 1 or text.startswith((".", "/", "~")):
        raise FileNotFoundError(f"{text}: neither a checkpoint file, a pretrained folder nor a Hugging Face repo id "
                                "(ORG/NAME)")
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(text, allow_patterns=[CONFIG_FILE, WEIGHTS_FILE, CARD_FILE]))
    except LocalEntryNotFoundError as exc:
        raise FileNotFoundError(
            f"{text}: not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and downloads are off or failed; "
            "go online (HF_HUB_OFFLINE=0, or unset it) or pass a local folder (`i2pmae export RUN --out DIR`)"
        ) from exc
    except Exception as exc:  # repo not found, no network, gated repo ...
        raise FileNotFoundError(f"{text}: could not get it from the Hugging Face hub ({exc.__class__.__name__}: "
                                f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc


def save_pretrained(model: nn.Module, folder: str | os.PathLike, config: Mapping[str, Any] | None = None,
                    training: Mapping[str, Any] | None = None, metrics: Mapping[str, Any] | None = None) -> Path:
    """Write ``config.json`` + ``model.safetensors`` + a model card (``README.md``) into ``folder``.

    ``config`` is the model config (default: the one :func:`create_model` attached); ``training`` and
    ``metrics`` (a run's config and last metrics) go into the card and config.json when given."""
    from safetensors.torch import save_file

    import i2pmae

    cfg = dict(config if config is not None else getattr(model, "i2pmae_config", None) or {})
    if "name" not in cfg:
        raise ValueError("save_pretrained needs the model config (pass config=..., or build the model with "
                         "i2pmae.create_model)")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"i2pmae_version": i2pmae.__version__, "model": cfg}
    npoints = ((training or {}).get("data") or {}).get("npoints")
    if npoints:
        meta["npoints"] = int(npoints)  # the cloud size it was trained on: load_encoder's default
    if metrics:
        meta["metrics"] = dict(metrics)
    (out / CONFIG_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE), metadata={"format": "pt", "i2pmae_version": i2pmae.__version__})
    (out / CARD_FILE).write_text(_model_card(cfg, training, metrics))
    return out


def _model_card(cfg: Mapping[str, Any], training: Mapping[str, Any] | None, metrics: Mapping[str, Any] | None) -> str:
    import yaml

    lines = ["---", "library_name: i2pmae", "tags: [point-cloud, 3d, i2p-mae, masked-autoencoder]", "---", "",
             f"# {cfg['name']} (i2pmae)", "",
             "Load it with `i2pmae.from_pretrained(...)` (the whole network) or `i2pmae.load_encoder(...)` "
             "(features: `.embed(points)`).", "", "## Model config", "", "```yaml",
             yaml.safe_dump(dict(cfg), sort_keys=False).rstrip(), "```"]
    if metrics:
        lines += ["", "## Metrics (last logged)", "", "| key | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in metrics.items()]
    if training:
        lines += ["", "## Training config", "", "```yaml",
                  yaml.safe_dump(json.loads(json.dumps(dict(training), default=str)), sort_keys=False).rstrip(), "```"]
    return "\n".join(lines) + "\n"


def from_pretrained(source: str | os.PathLike) -> nn.Module:
    """The whole network saved by :func:`save_pretrained` (a folder or a Hugging Face repo id), eval mode."""
    from i2pmae.models import build_model

    folder = _pretrained_folder(source)
    cfg = json.loads((folder / CONFIG_FILE).read_text())["model"]
    model = build_model(cfg)
    model.i2pmae_config = cfg
    _load_into(model, _weights(folder), str(folder))
    return model.eval()


def push_to_hub(folder: str | os.PathLike, repo_id: str, private: bool = False) -> str:
    """Upload a :func:`save_pretrained` folder to the Hugging Face hub (needs a login); returns the URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    return str(api.upload_folder(folder_path=str(_pretrained_folder(folder)), repo_id=repo_id))


# ---------------------------------------------------------------- encoders
class Encoder(nn.Module):
    """A pre-trained I2P-MAE encoder for features: ``embed(points) -> (B, D)`` with the linear-SVM probe's
    pooling and the debiased BatchNorm statistics (``svm.bn_statistics: debiased``)."""

    def __init__(self, network: nn.Module, npoints: int = 2048):
        super().__init__()
        self.network = network.eval()
        self.npoints = int(npoints)

    @torch.no_grad()
    def forward_features(self, points: torch.Tensor) -> torch.Tensor:
        """Features of already normalised (B, N, 3) clouds, on the encoder's device."""
        device = next(self.network.parameters()).device
        return self.network.extract_features(points.to(device, torch.float32)).float()

    def embed(self, points: np.ndarray | torch.Tensor, seed: int = 0) -> torch.Tensor:
        """(B, D) features of one (N, 3) or a batch (B, N, 3) of raw clouds (numpy or tensor, any N): each
        is resampled to ``npoints`` (farthest-point sampling; repeats when N is smaller) and normalised to
        the unit sphere, as ``i2pmae embed`` does with files."""
        from i2pmae.data._io import normalize, resample

        array = points.detach().cpu().numpy() if isinstance(points, torch.Tensor) else np.asarray(points)
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3 or array.shape[-1] < 3:
            raise ValueError(f"points must be (N, 3) or (B, N, 3), got shape {tuple(array.shape)}")
        # a fresh generator per cloud: a cloud's features do not depend on the batch it comes in
        clouds = [normalize(resample(c[:, :3].astype(np.float32), self.npoints, "fps", np.random.default_rng(seed),
                                     where="points", upsample=True)) for c in array]
        return self.forward_features(torch.from_numpy(np.stack(clouds)))


def encoder_config(source: str | os.PathLike, config: str | os.PathLike | None = None) -> tuple[dict, str]:
    """(config, where it came from) for an encoder: ``config`` when given, a pretrained folder's
    config.json, the config stored in one of our checkpoints, else the paper's pre-training config (the
    authors' and Point-M2AE's files store none)."""
    from i2pmae.engine.checkpoint import load_checkpoint
    from i2pmae.engine.config import load_config

    if config is not None:
        return load_config(config), str(config)
    if not Path(source).is_file():
        folder = _pretrained_folder(source)
        meta = json.loads((folder / CONFIG_FILE).read_text())
        return {"model": meta["model"], "data": {"npoints": meta.get("npoints")}}, f"{folder / CONFIG_FILE}"
    if Path(source).suffix != ".safetensors":
        stored = load_checkpoint(source).get("config")
        if isinstance(stored, dict) and isinstance(stored.get("model"), dict):
            return stored, f"the config stored in {source}"
    return load_config(DEFAULT_ENCODER_CONFIG), f"{DEFAULT_ENCODER_CONFIG} ({source} stores no config)"


def load_encoder(source: str | os.PathLike | None, config: str | os.PathLike | None = None,
                 npoints: int | None = None, device: str | torch.device = "cpu") -> Encoder:
    """An eval-mode :class:`Encoder` from one of our checkpoints or runs' ``.pth``, the authors'
    ``pre-train.pth``, Point-M2AE's, a :func:`save_pretrained` folder or a Hugging Face repo id.
    ``source=None`` gives a randomly initialised encoder of ``config`` (the no-pre-training baseline)."""
    from i2pmae.engine.config import load_config
    from i2pmae.tasks.svm_eval import build_encoder, debias_batchnorm

    if source is None:
        cfg, weights = load_config(config or DEFAULT_ENCODER_CONFIG), None
    else:
        cfg, _ = encoder_config(source, config)
        weights = str(source) if Path(source).is_file() else str(_pretrained_folder(source) / WEIGHTS_FILE)
    network = build_encoder(cfg["model"], weights)
    debias_batchnorm(network)  # a short run's BatchNorm statistics without their initial value (as the probes)
    n = npoints or int((cfg.get("data") or {}).get("npoints") or 2048)
    return Encoder(network, n).to(device).eval()
