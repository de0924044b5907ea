"""devnet: a local Cardano ledger (Conway rules) that serves Blockfrost's API."""

from devnet.errors import LedgerError, LedgerRejection, NotFound
from devnet.genesis import Genesis
from devnet.ledger import Ledger
from devnet.params import ProtocolParams

__all__ = ["Genesis", "Ledger", "LedgerError", "LedgerRejection", "NotFound", "ProtocolParams"]
