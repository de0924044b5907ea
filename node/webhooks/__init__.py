"""Webhooks: subscriptions, a transactional outbox of deliveries, signed sends with retries."""
