"""Suite-wide pytest configuration."""

pytest_plugins = ["support.etcd"]
