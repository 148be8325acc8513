"""romanad's ``--vip-lease-ttl``: its default is the core's, and a value outside the bounds is
refused naming the setting."""

from __future__ import annotations

import pytest

from romana import config
from romana.api.settings import RomanadSettings
from romana.core import vips
from romana.core.errors import InvalidInput


def test_the_lease_ttl_defaults_to_the_cores_and_is_read_from_the_environment() -> None:
    assert config.load(RomanadSettings, environ={}).settings.vip_lease_ttl == vips.DEFAULT_TTL
    environ = {"ROMANAD_VIP_LEASE_TTL": "3.5"}
    assert config.load(RomanadSettings, environ=environ).settings.vip_lease_ttl == 3.5


@pytest.mark.parametrize("ttl", [vips.MIN_TTL / 2, vips.MAX_TTL + 1, float("nan")])
def test_a_lease_ttl_outside_its_bounds_is_refused(ttl: float) -> None:
    with pytest.raises(InvalidInput) as refused:
        config.load(RomanadSettings, environ={}, overrides={"vip_lease_ttl": ttl})
    assert [i.field for i in refused.value.issues] == ["vip_lease_ttl"]
