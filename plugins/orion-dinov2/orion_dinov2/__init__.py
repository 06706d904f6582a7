"""Orion backend: dinov2 (being built)."""
