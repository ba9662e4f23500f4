"""Beds and places, and the periods when they are out of service."""
