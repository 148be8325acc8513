"""Settings named after their fields: the environment variable and flag an operator types."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from romana import config


@dataclass(frozen=True, slots=True)
@config.named("DEMO_")
class Demo:
    gc_grace: float = config.named_setting(60.0, "Seconds of grace.")
    password: str = config.named_setting("", "A secret, never on the command line.", flag=False)
    admin_user: str = config.setting("admin", "Set in the file only.")


def test_a_named_setting_takes_its_variable_and_flag_from_its_name() -> None:
    rows = {row["name"]: (row["env"], row["flag"]) for row in config.reference(Demo)}
    assert rows == {
        "gc_grace": ("DEMO_GC_GRACE", "--gc-grace"),
        "password": ("DEMO_PASSWORD", ""),
        "admin_user": ("", ""),
    }
    loaded = config.load(Demo, environ={"DEMO_GC_GRACE": "5", "DEMO_PASSWORD": "s"})
    assert (loaded.settings.gc_grace, loaded.settings.password) == (5.0, "s")
    assert loaded.sources["gc_grace"] == "env:DEMO_GC_GRACE"


def test_a_named_setting_without_the_class_decorator_is_refused() -> None:
    @dataclass(frozen=True)
    class Unnamed:
        gc_grace: float = config.named_setting(60.0, "Seconds of grace.")

    with pytest.raises(TypeError, match="gc_grace"):
        config.load(Unnamed, environ={"UNNAMED_GC_GRACE": "5"})
