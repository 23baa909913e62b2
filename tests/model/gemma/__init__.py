"""DiffusionGemma tests: tiny random checkpoint folders shaped like the hub download (folders.py)."""
