"""Notifier implementations (Teams Workflows webhook)."""
