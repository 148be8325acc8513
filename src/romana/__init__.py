"""Romana: layer-3 routed networking where a workload's tenant and segment live in its address.

Importing this package has no side effects.
"""

__version__ = "0.1.0"
