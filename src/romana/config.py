"""Settings: one frozen object per executable, built once and injected.

Each settings class is a frozen dataclass whose fields carry their documentation, their
environment variable and their command-line flag in ``field(metadata=...)``, so that the
configuration reference in ``docs/operations.md`` is generated from these definitions and
cannot drift from them. Most fields are :func:`named_setting`: their environment variable is
the class's prefix and the field's name in capitals, their flag the name with dashes, filled in
by the class decorator :func:`named` so that no name is spelled twice.

:func:`load` builds a settings object from, in increasing priority: defaults, a TOML file,
the environment, and explicit overrides (command-line options). It records where each value
came from, warns about unknown keys, and validates every value before any side effect,
reporting all problems at once. No module reads ``os.environ`` on its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from romana.core.errors import InvalidInput, Issues

S = TypeVar("S")


_NAMED = "(named by @config.named)"
"""Stands for an environment variable or flag until :func:`named` gives the real name."""


def setting(default: Any, doc: str, *, env: str = "", flag: str = "") -> Any:
    """A documented settings field."""
    return dataclasses.field(default=default, metadata={"doc": doc, "env": env, "flag": flag})


def named_setting(default: Any, doc: str, *, flag: bool = True) -> Any:
    """A documented settings field with an environment variable and, unless ``flag`` is false,
    a command-line flag, both named after the field by the class decorator :func:`named`."""
    return setting(default, doc, env=_NAMED, flag=_NAMED if flag else "")


def named(env_prefix: str) -> Callable[[type[S]], type[S]]:
    """Class decorator, placed below ``@dataclass``: each :func:`named_setting` field
    ``some_name`` gets the environment variable ``{env_prefix}SOME_NAME`` and the flag
    ``--some-name``."""

    def name(cls: type[S]) -> type[S]:
        for attr, value in list(vars(cls).items()):
            if isinstance(value, dataclasses.Field) and value.metadata.get("env") == _NAMED:
                flag = "--" + attr.replace("_", "-") if value.metadata["flag"] else ""
                doc = value.metadata["doc"]
                setattr(
                    cls, attr, setting(value.default, doc, env=env_prefix + attr.upper(), flag=flag)
                )
        return cls

    return name


@dataclasses.dataclass(frozen=True, slots=True)
class Loaded(typing.Generic[S]):
    settings: S
    sources: Mapping[str, str]
    """Field name → where its value came from: default, file:<path>, env:<VAR>, cli."""
    warnings: tuple[str, ...]


def _convert(name: str, kind: Any, raw: Any, issues: Issues) -> Any:
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if raw is None or raw == "":
            return None
        return _convert(name, non_none[0], raw, issues)
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError("expected an integer")
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is str:
            return str(raw)
        if origin is tuple:
            items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
            return tuple(str(i).strip() for i in items if str(i).strip())
    except (TypeError, ValueError) as exc:
        issues.add(name, f"{raw!r} is not a valid {getattr(kind, '__name__', kind)}: {exc}")
        return None
    return raw


def load(
    cls: type[S],
    *,
    environ: Mapping[str, str] | None = None,
    file: str | Path | None = None,
    section: str = "",
    overrides: Mapping[str, Any] | None = None,
) -> Loaded[S]:
    """Build ``cls`` from defaults < file < environment < overrides; validate everything."""
    assert dataclasses.is_dataclass(cls)
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    warnings: list[str] = []
    issues = Issues()
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unnamed = [name for name, f in fields.items() if f.metadata.get("env") == _NAMED]
    if unnamed:  # a programming error: the variables would silently be ignored
        raise TypeError(f"{cls.__name__} needs @config.named below @dataclass: {unnamed}")
    if file is not None:
        path = Path(file)
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidInput(f"config file {path}: {exc}") from exc
        if section:
            data = data.get(section, {})
        for key, raw in data.items():
            name = key.replace("-", "_")
            if name not in fields:
                warnings.append(f"{path}: unknown setting {key!r} ignored")
                continue
            values[name] = _convert(key, hints[name], raw, issues)
            sources[name] = f"file:{path}"
    for name, f in fields.items():
        var = f.metadata.get("env", "")
        if environ is not None and var and var in environ:
            values[name] = _convert(var, hints[name], environ[var], issues)
            sources[name] = f"env:{var}"
    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        if name not in fields:
            raise InvalidInput(f"unknown setting {name!r}")
        values[name] = _convert(fields[name].metadata.get("flag") or name, hints[name], raw, issues)
        sources[name] = "cli"
    issues.raise_if_any()
    for name in fields:
        sources.setdefault(name, "default")
    settings = cls(**values)
    validate = getattr(settings, "validate", None)
    if callable(validate):
        validate()
    return Loaded(settings, sources, tuple(warnings))


def reference(cls: type[Any]) -> list[dict[str, str]]:
    """One row per field — name, type, default, env, flag, doc — for generated docs."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        rows.append(
            {
                "name": f.name,
                "type": getattr(kind, "__name__", str(kind)).replace("typing.", ""),
                "default": repr(f.default),
                "env": f.metadata.get("env", ""),
                "flag": f.metadata.get("flag", ""),
                "doc": f.metadata.get("doc", ""),
            }
        )
    return rows


def _field(cls: type[Any], name: str) -> dataclasses.Field[Any]:
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def setting_facts(cls: type[Any], name: str) -> str:
    """``env ROMANAD_X; default 1`` (what is known of them): where the setting ``name`` of
    ``cls`` comes from when no flag gives it, as help texts say it."""
    f = _field(cls, name)
    value = f.default
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, tuple):
        value = ",".join(str(v) for v in value)
    elif isinstance(value, float):
        value = f"{value:g}"
    facts = [f"env {f.metadata['env']}"] if f.metadata.get("env") else []
    if value not in ("", dataclasses.MISSING):
        facts.append(f"default {value}")
    return "; ".join(facts)


def flag_help(cls: type[Any], name: str, doc: str | None = None) -> str:
    """The ``--help`` text of the setting ``name`` of ``cls``: ``doc`` (by default the
    setting's own), then its environment variable and default (:func:`setting_facts`),
    escaped for argparse."""
    facts = setting_facts(cls, name)
    text = doc if doc is not None else _field(cls, name).metadata.get("doc", "")
    shown = f"{text} ({facts})" if facts else text
    return shown.replace("%", "%%")


def daemon_parser(
    prog: str, description: str, epilog: str, section: str | None = None
) -> argparse.ArgumentParser:
    """The argument parser of a daemon: its help (the texts kept as written) and, when it
    reads a settings file, ``--config`` naming that file's ``[section]``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if section is not None:
        parser.add_argument("--config", help=f"TOML settings file (section [{section}])")
    return parser


def add_flags(parser: argparse.ArgumentParser, cls: type[Any]) -> None:
    """One option of ``parser`` per setting of ``cls`` that has a flag, its help the doc,
    environment variable and default (:func:`flag_help`); a boolean may be given bare
    (``--insecure``) or with a value. Unset options are None, so that :func:`load` lets the
    file and the environment decide."""
    for f in dataclasses.fields(cls):
        flag = f.metadata.get("flag")
        if not flag:
            continue
        doc = flag_help(cls, f.name)
        if f.type in ("bool", bool):
            parser.add_argument(flag, dest=f.name, nargs="?", const="true", default=None, help=doc)
        else:
            parser.add_argument(flag, dest=f.name, default=None, help=doc)


class RomanadClient(Protocol):
    """The settings a client of romanad (an agent, romana-aws) reaches it with."""

    @property
    def url(self) -> tuple[str, ...]: ...
    @property
    def client_cert(self) -> str: ...
    @property
    def client_key(self) -> str: ...
    @property
    def insecure(self) -> bool: ...
    @property
    def token(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...


def check_romanad_client(
    settings: RomanadClient, password_variable: str, issues: Issues, *, password_file: str = ""
) -> None:
    """The rules every client of romanad follows: a URL, credentials (a token, a user with
    the password in ``password_variable`` or, for a client that has one, in its
    ``password_file``, or ``--insecure`` alone), a certificate with its key."""
    if not settings.url:
        issues.add("url", "at least one romanad URL is required")
    for i, url in enumerate(settings.url):
        if not url.startswith(("http://", "https://")):
            issues.add(f"url[{i}]", f"{url!r} must start with http:// or https://")
    if bool(settings.client_cert) != bool(settings.client_key):
        issues.add("client_cert", "--client-cert and --client-key go together")
    if settings.insecure and (settings.token or settings.username):
        issues.add("insecure", "must not be combined with --token or --username")
    if not (settings.insecure or settings.token or settings.username):
        issues.add(
            "token",
            "romanad needs credentials: give --token, or --username with "
            f"{password_variable}, or --insecure when romanad runs with --insecure",
        )
    if settings.username and not (settings.password or password_file):
        issues.add("password", "is required with --username")
