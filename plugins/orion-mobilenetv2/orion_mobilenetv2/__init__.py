"""Orion backend: mobilenetv2 (being built)."""
