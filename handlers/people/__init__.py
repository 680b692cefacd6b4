"""Residents and staff over time: binding claims, invitations, departures, and forgetting a resident."""
