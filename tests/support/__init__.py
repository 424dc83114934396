"""Helpers shared by test folders: import them as ``tests.support.<module>`` (the checkout is on the path)."""
