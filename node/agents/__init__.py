"""Agent registration: registry NFTs minted and burned for the node's selling wallets."""
