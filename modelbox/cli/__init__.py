"""The `modelbox` command line."""

from modelbox.cli.main import main

__all__ = ["main"]
