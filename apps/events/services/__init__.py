"""Writes of the events app, split by topic: inbound events, outbox, notifications."""
