"""Postroom: one mail and collaboration server over one store."""
__version__ = "0.1.0"
