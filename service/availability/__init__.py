"""Availability search: which beds are free at a moment, and how far from the scenes."""
