"""The buyer side (issue #8): quotes from an agent's /start_job, purchases, batched locks,
refund requests and refund withdrawals."""
