"""The chain port, its Blockfrost adapter, transaction builders and the submitter. No HTTP, no tables."""
