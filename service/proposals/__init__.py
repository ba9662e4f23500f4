"""Proposals: the solver's plan for the waiting referrals, its lines held on beds for review."""
