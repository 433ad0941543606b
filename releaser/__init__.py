"""releaser: a release manager for apps on Render."""

__version__ = "0.1.0"
