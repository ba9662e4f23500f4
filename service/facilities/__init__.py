"""Facilities: hotels, specialised units, rest spaces and out-of-region placements."""
