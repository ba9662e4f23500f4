"""The audit trail: append-only events written in the transaction of each change."""
