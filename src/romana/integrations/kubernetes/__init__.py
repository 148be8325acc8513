"""Kubernetes listener: keeps romanad in step with namespaces, nodes, pods and NetworkPolicies."""
