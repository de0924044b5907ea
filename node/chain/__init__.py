"""The chain port, its Blockfrost adapter, tx builders and the submitter. No HTTP, no tables."""
