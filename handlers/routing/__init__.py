"""Routing one message: the table (router.py), the message being routed, the conditions, the actions."""
