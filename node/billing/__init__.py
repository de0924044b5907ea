"""Billing: balances between agents, usage and history keyed by request id, from the mirror."""
