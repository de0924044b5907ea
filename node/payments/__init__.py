"""Seller side: payment requests, the blockchainIdentifier, results, collection and refunds."""
