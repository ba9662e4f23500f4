"""Holds and stays: a bed kept for a referral, then the person in it, until they leave."""
