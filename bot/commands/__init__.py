"""The command line's commands, one module per group; run.py imports a module only when its command runs."""
