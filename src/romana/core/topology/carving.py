"""How a list of groups splits its parent's topology bits: power-of-two slices.

A group owning ``bits`` topology bits spans ``2**bits`` host indices starting at ``first``.
A list of ``n`` subgroups is padded to the next power of two, ``2**k`` slots with
``k = ceil(log2(n))``, and subgroup ``i`` gets slot ``i``: indices
``first + i * 2**(bits - k)`` onwards, ``bits - k`` bits wide. This is Romana v2's
prefix-group carving (romana-behaviour.md §2.2.2) applied to the topology bits instead of to
the whole address.

Padding slots are not groups. They hold no hosts and are never chosen for a host: a Romana v2
padding group silently received hosts (its ``dummy`` flag was set on a copy, §8 item 4), which
put hosts where the operator had drawn no group. Kept empty, a padding slot is room to grow:
appending a subgroup to a list whose length is not yet a power of two takes the next padding
slot and moves no existing group, so no existing host prefix changes.

A single subgroup (``n == 1``) takes no bits and spans its parent's whole range; a chain of
single subgroups therefore costs nothing, while every level with two or more subgroups costs
``k`` bits. A tree deeper than the topology bits can hold is reported by the parser.
"""

from __future__ import annotations


def slot_bits(count: int) -> int:
    """Bits needed to give each of ``count`` subgroups its own slot: ``ceil(log2(count))``."""
    if count < 1:
        raise ValueError("count must be >= 1")
    return (count - 1).bit_length()


def fits(count: int, bits: int) -> bool:
    """True when ``count`` subgroups fit into a group of ``bits`` topology bits."""
    return slot_bits(count) <= bits


def child_range(first: int, bits: int, count: int, i: int) -> tuple[int, int]:
    """``(first, bits)`` of subgroup ``i`` of ``count`` in a group at ``(first, bits)``."""
    child_bits = bits - slot_bits(count)
    if child_bits < 0:
        raise ValueError(f"{count} subgroups do not fit into {bits} bits")
    return first + (i << child_bits), child_bits
