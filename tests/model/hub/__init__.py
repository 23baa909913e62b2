"""Folders shaped like the hub downloads of each family (published facts, builders, tests)."""
