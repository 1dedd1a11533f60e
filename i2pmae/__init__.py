"""i2pmae: I2P-MAE (image-to-point masked autoencoders) in pure PyTorch.

The public API (``create_model``, ``list_models``, ``load_encoder``, ``from_pretrained``,
``save_pretrained``, ``push_to_hub``) lives in :mod:`i2pmae.api`; it is imported on first use so that
``import i2pmae`` (and every command's start-up) stays fast.
"""

__version__ = "0.1.0"

_API = ("create_model", "list_models", "load_encoder", "from_pretrained", "save_pretrained", "push_to_hub",
        "Encoder")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from i2pmae import api

        return getattr(api, name)
    raise AttributeError(f"module 'i2pmae' has no attribute {name!r}")
