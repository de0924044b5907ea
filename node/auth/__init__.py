"""API keys: stored as keyed hashes, permissions read / pay / admin, network limits, usage credits."""
