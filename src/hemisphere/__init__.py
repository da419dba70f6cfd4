"""Hemisphere: self-hosted cloud development environments for every installation topology."""

__version__ = "0.1.0"
__all__ = ["__version__"]
