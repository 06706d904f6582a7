"""Orion backend: vjepa2 (being built)."""
