"""paynode: a Masumi-compatible payment node for AI agents on Cardano."""

import os

__version__ = "0.1.0"

# pycardano runs typeguard over every argument and return value of its serialisation: about 40 %
# of building and signing a transaction (bench/tx_build.py: a lock in ~44 ms instead of ~72 ms).
# The check is chosen when pycardano is first imported, which in the node is after this line;
# PYCARDANO_NO_TYPE_CHECK=0 in the environment keeps it.
os.environ.setdefault("PYCARDANO_NO_TYPE_CHECK", "1")
