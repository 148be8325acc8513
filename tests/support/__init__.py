"""Shared test helpers: environment requirements, daemons started by PID, namespaces."""
