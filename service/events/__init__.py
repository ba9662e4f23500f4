"""Events for partners: the outbox, the webhook worker, the subscriptions and the feed."""
