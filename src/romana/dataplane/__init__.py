"""dataplane layer."""
