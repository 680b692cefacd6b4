"""Scheduled work: check-ins, escalation, visits, reports and retention, each in its own transactions."""
