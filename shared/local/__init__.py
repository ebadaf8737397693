"""Offline implementations of the ports: snapshot ARM reader, SQLite sinks, file notifier."""
