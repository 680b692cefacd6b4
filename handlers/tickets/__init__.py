"""The ticket domain: opening and assignment, the state machine, operations and their outcomes, the ladder."""
