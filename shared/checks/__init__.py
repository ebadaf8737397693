"""Targeted ARM checks: one module per check (module name == check id), listed in registry.py."""
