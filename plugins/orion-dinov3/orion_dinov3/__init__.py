"""Orion backend: dinov3 (being built)."""
