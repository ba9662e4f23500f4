"""Referrals: people waiting for a bed, their needs and their status."""
