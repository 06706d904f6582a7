"""Backends that ship inside orion-core, registered through its own entry point like any plugin."""
