"""Typer's parameter conversion, deferred until a value needs more than being a string.

Typer (0.29) converts every parameter of a command line through a pydantic ``TypeAdapter``
that it builds the first time the parameter is processed — even when the value is absent, as
the global options almost always are. Any command, and the help of any group below the root
(``romana tenant --help`` processes the root's options first), then imports pydantic and
builds about a dozen adapters before it does anything: measured on a 2-CPU machine,
``romana tenant --help`` took 226 ms (p50) that way and 132 ms deferred.

:func:`defer` gives each parameter of a built command tree a conversion that answers the two
cases needing no conversion at all — no value, and a string for a ``str`` parameter — itself,
and hands every other value to the conversion Typer would have used, built then. The result
and the error of every other value are Typer's own; no value Typer would refuse passes.

Invariant: the deferral only touches parameters that carry Typer's conversion hooks; with a
Typer that has none (or other ones), the tree is left as Typer built it, slower but the same.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from typer import _click

from romana.cli import lazy

try:
    from typer._coercion import RuntimeParam, build_runtime_param
except ImportError:  # another Typer: its own conversion stays in place
    RuntimeParam = None  # type: ignore[assignment,misc]


def defer(command: Any) -> None:
    """Defer the conversion of every parameter of ``command`` and of its subcommands."""
    if RuntimeParam is None:
        return
    # Click makes the --help option on first use; made here (and kept by the command) it is
    # deferred like the others.
    made = command.get_help_option(_click.Context(command, **command.context_settings))
    for param in [*command.params, *([made] if made is not None else [])]:
        if getattr(param, "_runtime_param", False) is None and hasattr(param, "type_descriptor"):
            descriptor = param.type_descriptor
            param._runtime_param = _Deferred(descriptor.parameter_info, descriptor.annotation)
    subs = getattr(command, "commands", {})
    # Of a lazily built group, only what is built: the rest is deferred as it is built.
    for sub in subs.built() if isinstance(subs, lazy.Commands) else subs.values():
        defer(sub)


if RuntimeParam is not None:

    @dataclasses.dataclass(frozen=True)
    class _Deferred(RuntimeParam):
        """Typer's conversion of one parameter, built when a value first needs it.

        ``RuntimeParam.coerce`` answers an absent value before calling this."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            info = self.parameter_info
            plain = self.annotation is str and info.parser is None
            if plain and isinstance(value, str):
                return value  # what Typer's ``str`` conversion returns for a string
            typer_own = build_runtime_param(param.type_descriptor)
            param._runtime_param = typer_own
            return typer_own._coerce_value(value, param=param, ctx=ctx)
