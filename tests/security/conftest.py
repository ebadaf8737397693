"""Fixtures for the security tests: the ARM emulator (HTTPS, session-wide) from tests/emulators."""

from tests.emulators.plugin import arm_emulator, arm_server  # noqa: F401 (fixtures)
