"""The chain port, its Blockfrost adapter, tx builders and the submitter. No HTTP, no tables."""

import logging

# pycardano logs a transaction builder's whole state (every UTxO it was offered, pretty-printed)
# at WARNING whenever a build fails, on a handler of its own. Our callers catch the failure and
# say what it means (a wallet waiting for its pending transactions, funds short), so those dumps
# are only noise in the node's log.
logging.getLogger("PyCardano").setLevel(logging.ERROR)
