"""Queries per aggregate: functions taking a Session and typed arguments, returning models or small rows.

Handlers keep the rules and call these; a handler module builds no select, update, delete or insert of
its own (tests/unit/test_layers.py).
"""
