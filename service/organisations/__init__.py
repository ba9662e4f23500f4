"""Organisations: the operators that run facilities and hold API keys."""
