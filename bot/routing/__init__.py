"""The router's parts: the message being routed, the conditions of its table, and what each route does."""
