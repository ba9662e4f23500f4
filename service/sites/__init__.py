"""Consumption sites: where crack is sold and used, each with an active period."""
