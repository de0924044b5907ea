"""paynode: a Masumi-compatible payment node for AI agents on Cardano."""

__version__ = "0.1.0"
