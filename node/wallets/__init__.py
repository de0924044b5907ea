"""Hot wallets: selling and purchasing keys, encrypted at rest; one spender per wallet at a time."""
