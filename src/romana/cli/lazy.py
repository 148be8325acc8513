"""Commands of the root group imported when first used: ``romana decode`` loads one module.

The composition root (``cli.main``) names each command by the module of
``romana.cli.commands`` and the attribute that holds it — a Typer group, or a function for a
single command — in :data:`Entry` rows. :class:`Commands` is the root group's command mapping:
it lists every name at once (for ``--help`` and completion) and imports a command's module
and builds its Click command on first lookup, exactly as ``app.add_typer(group, name=...)``
or ``app.command(name)(function)`` on the root would have built it eagerly.

Invariants:

* Listing names never imports a command module; looking one up imports that one only.
* Names keep the order of the rows; a name may be built at most once per mapping.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import Any

import typer
from typer import _click
from typer.models import CommandInfo, TyperInfo

Entry = tuple[str, str, str]
"""(command name, module under ``romana.cli.commands``, attribute: a Typer or a function)."""

PACKAGE = "romana.cli.commands"


def build(root: typer.Typer, name: str, found: Any) -> _click.Command:
    """The Click command Typer makes of ``found`` registered on ``root`` as ``name``."""
    if isinstance(found, typer.Typer):
        return typer.main.get_group_from_info(
            TyperInfo(found, name=name),
            pretty_exceptions_short=root.pretty_exceptions_short,
            suggest_commands=root.suggest_commands,
            rich_markup_mode=root.rich_markup_mode,
        )
    return typer.main.get_command_from_info(
        CommandInfo(name=name, callback=found),
        pretty_exceptions_short=root.pretty_exceptions_short,
        rich_markup_mode=root.rich_markup_mode,
    )


def load(module: str, attribute: str) -> Any:
    """``attribute`` of ``romana.cli.commands.<module>``, imported by an import statement (so
    ``python -X importtime`` lists it, which ``tests/unit/cli/test_cli_imports.py`` reads)."""
    path = f"{PACKAGE}.{module}"
    __import__(path)
    return getattr(sys.modules[path], attribute)


class Commands(MutableMapping[str, _click.Command]):
    """A group's commands: the ``entries`` built on first lookup by ``make``, and any command
    added later (Click's ``add_command``) as given."""

    def __init__(
        self, entries: Sequence[Entry], make: Callable[[str, str, str], _click.Command]
    ) -> None:
        self._entries = {name: (module, attribute) for name, module, attribute in entries}
        self._make = make
        self._built: dict[str, _click.Command] = {}
        self._order = list(self._entries)

    def built(self) -> list[_click.Command]:
        """The commands built so far, without building any other."""
        return list(self._built.values())

    def __getitem__(self, name: str) -> _click.Command:
        if name not in self._built:
            if name not in self._entries:
                raise KeyError(name)
            self._built[name] = self._make(name, *self._entries[name])
        return self._built[name]

    def __setitem__(self, name: str, command: _click.Command) -> None:
        if name not in self._order:
            self._order.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._order:
            raise KeyError(name)
        self._order.remove(name)
        self._built.pop(name, None)
        self._entries.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._order
