"""The demo: a small romana cluster on one machine, explained as it runs."""
