"""What a resident's or worker's message does: one handler per kind of message, each returning the reply."""
