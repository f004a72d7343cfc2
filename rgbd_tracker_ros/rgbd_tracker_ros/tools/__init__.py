"""Command-line entry points; the only modules that parse arguments."""
