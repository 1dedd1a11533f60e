"""i2pmae: I2P-MAE (image-to-point masked autoencoders) in pure PyTorch."""

__version__ = "0.1.0"
