"""The CLI's command groups; each command is a thin call of ``romana.client``."""
