"""The deterministic Paris demo dataset and its loader."""
