"""What checks are built from: the check contract and runner, ranking, and the pure helpers for ARM
networking (IP math, NSG and route evaluation), identities and roles, quotas and versions.

Checks (`shared.checks`) import from here, never from each other.
"""
