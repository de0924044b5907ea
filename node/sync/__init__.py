"""The chain mirror: follows the escrow address, survives rollbacks; the only writer of on-chain
state."""
