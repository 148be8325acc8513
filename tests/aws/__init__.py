"""romana-aws against moto's EC2 server (docs/routing.md)."""
