"""API keys: keyed hashes, permissions read / pay / admin, network limits, usage credits."""
