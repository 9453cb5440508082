"""Fault injection on the whole stack (`make chaos`, `python -m tests.chaos`): see runner.py."""
