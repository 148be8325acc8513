"""Ordinal choice: lowest free first, reserved ordinals, blackouts, exhaustion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from romana.core import addressing, ipam
from romana.core.errors import Exhausted, InvalidInput
from romana.core.identifiers import NetworkName

NET = NetworkName("net")

LAY = addressing.layout("net", "10.0.0.0/8", 4, 4, 4)


def test_lowest_free_ordinal() -> None:
    slot = ipam.Slot(NET, 1, 1, 0)
    assert ipam.choose_ordinal(LAY, slot, []) == 1
    assert ipam.choose_ordinal(LAY, slot, [1, 2, 4]) == 3


def test_gateway_ordinal_is_never_handed_out_in_the_infrastructure_tenant() -> None:
    assert ipam.choose_ordinal(LAY, ipam.Slot(NET, 1, 0, 0), []) == 2


def test_blackouts_are_skipped() -> None:
    slot = ipam.Slot(NET, 1, 1, 0)
    blackouts = ipam.parse_blackouts(LAY, ["10.0.17.0/30"])  # host 1, tenant 1, ordinals 0..3
    assert ipam.choose_ordinal(LAY, slot, [], blackouts) == 4


def test_exhaustion_names_slot_and_capacity() -> None:
    slot = ipam.Slot(NET, 1, 1, 2)
    with pytest.raises(Exhausted, match=r"host index 1, tenant id 1, segment id 2.*capacity 14"):
        ipam.choose_ordinal(LAY, slot, range(1, 15))


def test_bad_blackouts_are_all_reported() -> None:
    with pytest.raises(InvalidInput) as exc:
        ipam.parse_blackouts(LAY, ["11.0.0.0/24", "nonsense", "10.0.0.0/8"])
    assert [i.field for i in exc.value.issues] == ["blackouts[0]", "blackouts[1]", "blackouts[2]"]


def test_keys_are_validated() -> None:
    ipam.check_key("abc:eth0")
    with pytest.raises(InvalidInput, match="key: must be"):
        ipam.check_key("../etc")


@given(st.sets(st.integers(1, 14)))
def test_choice_is_never_an_used_or_reserved_ordinal(used: set[int]) -> None:
    slot = ipam.Slot(NET, 3, 2, 1)
    if len(used) == 14:
        with pytest.raises(Exhausted):
            ipam.choose_ordinal(LAY, slot, used)
        return
    o = ipam.choose_ordinal(LAY, slot, used)
    assert o not in used and 1 <= o <= LAY.max_ordinal
    assert o == min(set(range(1, 15)) - used)
