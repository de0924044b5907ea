"""`Idempotency-Key` on POST: the first response is stored and replayed to retries (ADR 0016)."""
