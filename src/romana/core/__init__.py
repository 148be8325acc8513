"""The pure core: values and functions over values, standard library only.

Nothing in this package performs I/O, reads the clock, draws random numbers or logs decisions;
adapters and services do that with the values computed here.
"""
