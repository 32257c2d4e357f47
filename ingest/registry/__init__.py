"""Devices seen, their status, and how complete their data is."""
