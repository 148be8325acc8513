"""Regenerate the generated sections of the operator docs from the code, or check them.

Usage: ``python scripts/gendocs.py [--check] [FILE ...]`` (default: every file in :data:`DOCS`).

A generated section is the text between two markers::

    <!-- BEGIN GENERATED name -->
    <!-- END GENERATED name -->

and is written by the generator registered under ``name``, from the code alone: the settings
dataclasses (their ``doc``/``env``/``flag`` metadata, through ``romana.config.reference``) and
the executables' argument parsers, the Typer app of ``romana``, the agent's metrics, the CNI
plugin's configuration keys, the worked examples of ``docs/concepts.md``, computed by
``romana.core``, and the role table of ``docs/security.md``, computed by asking the
authorisation rule itself (``romana.services.auth.may``). ``--check`` writes nothing and
exits 1 naming every stale section, so a settings or CLI change without regenerated docs
fails ``tests/docs/test_docs_current.py``.
Output is deterministic: no clock, no randomness, no terminal width.

Invariants:

* Discovery is by import (:func:`load`). A module that does not exist, or defines no
  documented settings class, yields a section saying so, so prose can precede the code. A
  module that exists but fails to import stops the run: generating from broken code would
  overwrite good documentation.
* A section name with no generator stops the run; a generator with no section is caught by
  the test, which expects every generator to appear in :data:`DOCS`.
* Only the text between markers is ever rewritten.

Sections of this file: the configuration reference, the CLI reference, metrics and CNI keys
(``docs/operations.md``), then the worked examples (``docs/concepts.md``), then the role
table (``docs/security.md``), then ``main``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import importlib
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = (
    ROOT / "docs" / "operations.md",
    ROOT / "docs" / "concepts.md",
    ROOT / "docs" / "security.md",
)
SECTION = re.compile(
    r"(?P<begin><!-- BEGIN GENERATED (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)"
    r"(?P<end><!-- END GENERATED (?P=name) -->)",
    re.S,
)
GENERATORS: dict[str, Callable[[], str]] = {}


def generator(name: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    def register(fn: Callable[[], str]) -> Callable[[], str]:
        GENERATORS[name] = fn
        return fn

    return register


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def table(head: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def code(text: str, lang: str = "") -> str:
    return f"```{lang}\n{text.rstrip()}\n```\n"


def load(name: str) -> Any:
    """Module ``name``, or None when it does not exist (yet).

    Any other failure to import it (a syntax error, a missing dependency of it) stops the
    run: generating from broken code would overwrite good documentation.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise SystemExit(f"gendocs: cannot import {name}: {exc}") from exc
    except Exception as exc:
        raise SystemExit(f"gendocs: cannot import {name}: {type(exc).__name__}: {exc}") from exc


# -- configuration reference ---------------------------------------------------------------

# section → (settings module, module with the executable's ``parser()``, where file keys go)
SETTINGS = {
    "config-romanad": (
        "romana.api.settings",
        "romana.api.main",
        "section `[romanad]` of the TOML file given with `--config`",
    ),
    "config-agent": (
        "romana.agent.settings",
        "romana.agent.main",
        "section `[agent]` of the TOML file given with `--config`",
    ),
    "config-cli": (
        "romana.cli.settings",
        "",
        "top level of `~/.config/romana/config.toml` (or `--config`, `ROMANA_CONFIG`)",
    ),
    "config-aws": (
        "romana.integrations.aws.settings",
        "romana.integrations.aws.main",
        "section `[aws]` of the TOML file given with `--config`",
    ),
}
_TYPES = {"str": "string", "bool": "boolean", "int": "integer", "float": "number"}


def settings_classes(module: Any) -> list[type]:
    """Dataclasses defined in ``module`` whose fields carry settings metadata."""
    return [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and obj.__module__ == module.__name__
        and dataclasses.is_dataclass(obj)
        and any("doc" in f.metadata for f in dataclasses.fields(obj))
    ]


def parser_flags(module_name: str) -> dict[str, str]:
    """Field name → the options the executable's own argument parser accepts for it."""
    if not module_name:
        return {}
    module = load(module_name)
    if not callable(getattr(module, "parser", None)):
        return {}
    parser = module.parser()
    return {
        a.dest: ", ".join(f"`{o}`" for o in a.option_strings)
        for a in parser._actions
        if a.option_strings and a.dest not in ("help", "config")
    }


def default_text(value: object) -> str:
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, float):
        value = f"{value:g}"
    if isinstance(value, tuple):
        value = ",".join(str(v) for v in value)
    return f"`{value}`" if value != "" else "(empty)"


def config_section(name: str) -> str:
    from romana import config

    module_name, main_module, where = SETTINGS[name]
    module = load(module_name)
    if module is None:
        return f"`{module_name}` is not part of this build yet.\n"
    classes = settings_classes(module)
    if not classes:
        return f"`{module_name}` defines no documented settings yet.\n"
    flags = parser_flags(main_module)
    out = []
    for cls in classes:
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        rows = []
        for row in config.reference(cls):
            kind = row["type"]
            kind = "list" if kind.startswith("tuple") else _TYPES.get(kind, kind)
            flag = flags.get(row["name"]) or (f"`{row['flag']}`" if row["flag"] else "")
            env = f"`{row['env']}`" if row["env"] else ""
            default = default_text(defaults[row["name"]])
            rows.append((f"`{row['name']}`", flag, env, kind, default, row["doc"]))
        out.append(
            f"`{cls.__name__}` (`{module_name}`) — file keys go in the {where}; a list is "
            "comma-separated in flags and the environment, a TOML array in the file.\n\n"
            + table(("setting", "flag", "environment", "type", "default", "meaning"), rows)
        )
    return "\n".join(out)


for _name in SETTINGS:
    GENERATORS[_name] = functools.partial(config_section, _name)


@generator("config-listener")
def listener_reference() -> str:
    """``romana-listener`` has no settings class: its argument parser is the reference."""
    module = load("romana.integrations.kubernetes.main")
    if module is None or not callable(getattr(module, "parser", None)):
        return "`romana-listener` is not part of this build yet.\n"
    parser = module.parser()
    rows = []
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        default = "(required)" if action.required else default_text(action.default or "")
        flags = ", ".join(f"`{o}`" for o in action.option_strings)
        meaning = (action.help or "") % {**vars(action), "prog": parser.prog}
        rows.append((flags, default, meaning))
    return table(("flag", "default", "meaning"), rows)


# -- CLI reference -------------------------------------------------------------------------


def help_text(text: str | None) -> str:
    paragraphs = []
    for para in (text or "").strip().split("\n\n"):
        para = " ".join(para.split())
        if para.startswith("Example: "):
            para = f"Example: `{para.removeprefix('Example: ')}`"
        if para:
            paragraphs.append(para)
    return "\n\n".join(paragraphs) + "\n" if paragraphs else ""


def command_doc(cmd: Any, ctx: Any, out: list[str]) -> None:
    out.append(f"#### `{ctx.command_path}`\n")
    out.append(help_text(cmd.help))
    out.append(code(cmd.get_usage(ctx).removeprefix("Usage: ")))
    records = [p.get_help_record(ctx) for p in cmd.params if not getattr(p, "hidden", False)]
    rows = [(f"`{opts}`", text) for opts, text in (r for r in records if r)]
    if rows:
        out.append(table(("argument or option", "meaning"), rows))
    if hasattr(cmd, "list_commands"):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                command_doc(sub, sub.context_class(sub, info_name=name, parent=ctx), out)


@generator("cli")
def cli_reference() -> str:
    import typer

    main = load("romana.cli.main")
    if main is None or not hasattr(main, "app"):
        return "The `romana` CLI is not part of this build yet.\n"
    root = typer.main.get_command(main.app)
    out: list[str] = []
    command_doc(root, root.context_class(root, info_name="romana"), out)
    return "\n".join(out)


@generator("debian-packages")
def debian_packages() -> str:
    """The package lists of ``scripts/bootstrap.sh``, read from its Bash arrays."""
    script = (ROOT / "scripts" / "bootstrap.sh").read_text()
    rows = []
    for name, body in re.findall(r"^(APT_\w+)=\((.*?)\)", script, re.S | re.M):
        packages = " ".join(line.split("#")[0] for line in body.splitlines()).split()
        how = "without recommends" if "NORECOMMENDS" in name else "with recommends"
        rows.append((how, " ".join(f"`{p}`" for p in packages)))
    if not rows:
        raise SystemExit("gendocs: no APT_* package arrays found in scripts/bootstrap.sh")
    return table(("installed", "packages"), rows)


# -- agent metrics, CNI keys -----------------------------------------------------------------


@generator("metrics")
def metrics_reference() -> str:
    from prometheus_client.metrics import MetricWrapperBase

    from romana.agent.metrics import Metrics

    rows = []
    for metric in vars(Metrics()).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        for family in metric.describe():
            suffix = "_total" if family.type == "counter" else ""
            labels = ", ".join(getattr(metric, "_labelnames", ()))
            rows.append((f"`{family.name}{suffix}`", family.type, labels, family.documentation))
    return table(("metric", "type", "labels", "meaning"), sorted(rows))


_XREF = r"\s*\(see :\w+:`[^`]+`\)"  # Sphinx cross-references mean nothing to an operator
# Keys of the CNI specification the plugin reads, and what it does with them.
CNI_SPEC_KEYS = {
    "cniVersion": "spec version of the configuration; results are written in it",
    "cniVersions": "versions the conflist supports; the highest the plugin knows is used",
    "name": "network name; GC releases only endpoints of this network",
    "args": "`args.labels`, `args.cni.labels`: workload labels (see `segment_label`)",
    "runtimeConfig": "`runtimeConfig.labels`: workload labels from a runtime that passes them",
    "prevResult": "CHECK compares the endpoint with it",
    "ipam": "refused (error 2): romana-agent allocates the addresses; leave it out",
}


def _conf_keys(paths: Iterable[Path]) -> set[str]:
    """String keys the plugin's code reads from the network configuration ``conf``."""

    def is_conf(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id == "conf"

    def text(node: ast.AST) -> str | None:
        return (
            node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
        )

    keys: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            found: str | None = None
            if isinstance(node, ast.Call) and node.args:
                fn = node.func
                if isinstance(fn, ast.Attribute) and fn.attr == "get" and is_conf(fn.value):
                    found = text(node.args[0])
                elif len(node.args) > 1 and is_conf(node.args[0]):
                    found = text(node.args[1])
            elif isinstance(node, ast.Subscript) and is_conf(node.value):
                found = text(node.slice)
            elif isinstance(node, ast.Compare) and is_conf(node.comparators[0]):
                found = text(node.left)
            if found:
                keys.add(found)
    return keys


@generator("cni-keys")
def cni_keys() -> str:
    request = load("romana.integrations.cni.request")
    if request is None:
        return "The CNI plugin is not part of this build yet.\n"
    block = (request.__doc__ or "").partition("Plugin configuration keys")[2]
    documented = {
        key: " ".join(re.sub(r"``([^`]+)``", r"`\1`", re.sub(_XREF, "", desc)).split())
        for key, desc in re.findall(r"^``(\w+)``\s+(.+(?:\n {8,}\S.*)*)", block, re.M)
    }
    if not documented:
        raise SystemExit("gendocs: no configuration keys found in romana.integrations.cni.request")
    read = _conf_keys(Path(request.__file__).parent.glob("*.py"))
    rows = [(f"`{k}`", "romana", d) for k, d in documented.items()]
    rows += [(f"`{k}`", "CNI spec", CNI_SPEC_KEYS[k]) for k in CNI_SPEC_KEYS if k in read]
    rows += [
        (f"`{k}`", "romana", "read by the plugin; not described in its docstring")
        for k in sorted(read - set(documented) - set(CNI_SPEC_KEYS))
    ]
    return table(("key", "defined by", "meaning"), rows)


# -- worked examples of docs/concepts.md -------------------------------------------------------


def bit_picture(lay: Any, address: Any) -> str:
    """The address cut into its fields: digits (bits; hex for IPv6) above what they mean."""
    widths = (
        lay.cidr.prefixlen,
        lay.topology_bits,
        lay.tenant_bits,
        lay.segment_bits,
        lay.endpoint_bits,
    )
    hexa = lay.version == 6 and all(w % 4 == 0 for w in widths)
    pos, top, bottom = lay.address_bits, [], []
    for name, width in zip(
        ("network", "host", "tenant", "segment", "endpoint"), widths, strict=True
    ):
        pos -= width
        value = (int(address) >> pos) & ((1 << width) - 1)
        digits = f"{value:0{width // 4}x}" if hexa else f"{value:0{width}b}"
        label = name if name == "network" else f"{name} {value}"
        size = max(len(digits), len(label))
        top.append(digits.ljust(size))
        bottom.append(label.ljust(size))
    return "  ".join(top).rstrip() + "\n" + "  ".join(bottom).rstrip()


def expressions(match: Any) -> tuple[str, str]:
    """The nftables and iptables text of one destination match, from the real renderers."""
    from romana.core import ruleset
    from romana.core.render import iptables, nftables

    rule = ruleset.Rule((ruleset.Address(ruleset.Side.DST, match),), ruleset.ACCEPT)
    rs = ruleset.Ruleset(sets=(), chains=(ruleset.Chain("romana-doc", (rule,)),))
    nft = next(x for x in nftables.render(rs).splitlines() if x.endswith(" accept"))
    rendered = iptables.render(rs)
    text = rendered.filter_v4 if match.version == 4 else rendered.filter_v6
    ipt = next(x for x in text.splitlines() if x.startswith("-A ROMANA-DOC "))
    return nft.strip().removesuffix(" accept"), ipt[len("-A ROMANA-DOC ") :].split(" --jump")[0]


def address_example(name: str, cidr: str, bits: tuple[int, int, int]) -> str:
    from romana.core import addressing as a

    lay = a.layout(name, cidr, *bits)
    # fmt: off
    out = [table(("field", "bits", "values", "holds"), [
        ("network prefix", lay.cidr.prefixlen, str(lay.cidr), "-"),
        ("topology (host)", lay.topology_bits, f"0 … {lay.max_hosts - 1}",
         f"{lay.max_hosts} host prefixes of /{lay.host_prefixlen}"),
        ("tenant", lay.tenant_bits, f"0 … {lay.max_tenant}",
         f"{lay.max_tenant} user tenants; 0 is infrastructure"),
        ("segment", lay.segment_bits, f"0 … {lay.max_segment}",
         f"{lay.max_segment + 1} segments per tenant; 0 is `default`"),
        ("endpoint", lay.endpoint_bits, f"1 … {lay.max_ordinal}",
         f"{lay.max_ordinal} endpoints per host, tenant and segment"),
    ])]
    cases = [((1, 0, 0, 1), "gateway of host 1 (on `romana-gw`)"),
             ((1, 1, 0, 1), "tenant 1, segment 0 (`default`), first endpoint"),
             ((1, 1, 1, 1), "tenant 1, segment 1, first endpoint"),
             ((1, 2, 3, 5), "tenant 2, segment 3, fifth endpoint"),
             ((lay.max_hosts - 1, lay.max_tenant, lay.max_segment, lay.max_ordinal),
              "the highest endpoint address of the network")]
    # fmt: on
    rows: list[tuple[str, ...]] = [
        ("1", "", "", "", f"`{a.host_prefix(lay, 1)}`", "the prefix host index 1 owns")
    ]
    rows += [(*map(str, c), f"`{a.encode(lay, *c)}`", what) for c, what in cases]
    out.append(table(("host", "tenant", "segment", "endpoint", "address", "what"), rows))
    example = a.encode(lay, 1, 1, 1, 1)
    out.append(code(f"{example}\n\n{bit_picture(lay, example)}"))
    d = a.decode(lay, example)
    out.append(
        f"Decoding `{example}` gives network `{d.network}`, host index {d.host} (prefix "
        f"`{d.host_prefix}`), tenant {d.tenant}, segment {d.segment}, endpoint {d.ordinal}.\n"
    )
    matches = [
        ("every address of the network", a.network_match(lay)),
        ("infrastructure (tenant 0), every host", a.tenant_match(lay, 0)),
        ("tenant 1, every host", a.tenant_match(lay, 1)),
        ("tenant 1 segment 1, every host", a.segment_match(lay, 1, 1)),
    ]
    rows = [
        (w, f"`{m.value_address}`", f"`{m.mask_address}`", *(f"`{e}`" for e in expressions(m)))
        for w, m in matches
    ]
    out.append(table(("selects", "value", "mask", "nftables", "iptables"), rows))
    t1 = a.tenant_match(lay, 1)
    masked = a.Match(lay.version, int(example) & t1.mask, 0).value_address
    out.append(f"`{example}` & `{t1.mask_address}` = `{masked}`: tenant 1's value.\n")
    return "\n".join(out)


GENERATORS["address-ipv4"] = lambda: address_example("pods", "10.0.0.0/8", (4, 4, 8))
GENERATORS["address-ipv6"] = lambda: address_example("pods6", "fd00:10::/56", (16, 16, 32))


@generator("widths")
def widths_table() -> str:
    from romana.core import addressing as a
    from romana.core.errors import InvalidInput

    # fmt: off
    plans = [("10.0.0.0/8", 4, 4, 8), ("10.0.0.0/8", 6, 2, 8), ("10.0.0.0/8", 4, 4, 10),
             ("172.16.0.0/12", 4, 4, 8), ("fd00:10::/56", 16, 16, 32), ("fd00::/48", 16, 16, 16)]
    head = ("network", "tenant / segment / endpoint bits", "topology bits", "host prefixes",
            "user tenants", "segments per tenant", "endpoints per host and segment")
    # fmt: on
    rows = []
    for cidr, *bits in plans:
        lay = a.layout("n", cidr, *bits)
        rows.append(
            (
                f"`{cidr}`",
                " / ".join(map(str, bits)),
                lay.topology_bits,
                f"{lay.max_hosts} × /{lay.host_prefixlen}",
                lay.max_tenant,
                lay.max_segment + 1,
                lay.max_ordinal,
            )
        )
    out = [table(head, rows), "Widths that do not fit are refused, with every problem at once:\n"]
    for cidr, *bits in (("10.0.0.0/8", 8, 8, 10), ("10.0.0.0/8", -1, 4, 1)):
        try:
            a.layout("pods", cidr, *bits)
        except InvalidInput as exc:
            out.append(code(f"{cidr}, tenant/segment/endpoint bits {bits}:\n{exc}"))
    return "\n".join(out)


def demo() -> tuple[Any, list[Any]]:
    """The topology and tenants ``make demo`` builds (``romana.demo``), computed in core.

    The demo's agents register the dual-stack underlay addresses of their lab hosts; the
    ``ctl`` namespace is the lab's first host, so host ``i`` (from 0) has lab index ``i + 2``.
    """
    import json

    from romana.core import tenancy, topology
    from romana.demo.__main__ import HOSTS
    from romana.lab import namespaces

    topo = topology.parse(json.loads((ROOT / "examples" / "demo-topology.json").read_text()))
    for i, (name, labels) in enumerate(HOSTS):
        ip = namespaces.UNDERLAY4.network_address + i + 2
        ip6 = namespaces.UNDERLAY6.network_address + i + 2
        spec = topology.HostSpec(name, ip, dict([labels.split("=", 1)]), ip6)
        topo, _ = topology.place_host(topo, spec)
    nets = [tenancy.NetworkAdmission(n.layout, frozenset(n.tenants)) for n in topo.networks]
    used: dict[str, list[int]] = {}
    tenants = []
    for name, segments in (("blue", ("web", "db")), ("green", ("web", "db"))):
        tenant = tenancy.Tenant(name, "", tenancy.pin_networks(name, (), nets, used))
        for seg in segments:
            tenant = tenancy.add_segment(tenant, seg, topo.layouts)
        for net, tid in tenant.ids.items():
            used.setdefault(net, []).append(tid)
        tenants.append(tenant)
    return topo, tenants


@generator("topology-demo")
def topology_demo() -> str:
    from romana.core import routeplan, topology

    topo, _ = demo()
    rows = []
    for host in topo.hosts:
        for r in routeplan.route_plan(topo, host.name).routes:
            why = f"aggregate of group {r.group}" if r.group else f"host prefix of {r.via_host}"
            rows.append((host.name, f"`{r.dst}`", f"`{r.via}` ({r.via_host})", why))
    head = ("routes on", "destination", "via", "why")
    return code(topology.draw(topology.tree_view(topo))) + "\n" + table(head, rows)


@generator("route-scaling")
def route_scaling() -> str:
    from romana.core import routeplan, topology

    racks = [{"name": f"rack-{r}", "assignment": {"rack": str(r)}} for r in range(1, 5)]
    zones = [
        {"name": f"zone-{z}", "assignment": {"zone": str(z)}, "groups": racks} for z in range(1, 5)
    ]
    net = {"name": "pods", "cidr": "10.0.0.0/8", "tenant_bits": 4, "segment_bits": 4}
    doc = {"networks": [net], "topologies": [{"networks": ["pods"], "map": zones}]}
    rows, listing = [], ""
    for per_rack in (1, 4, 16):
        topo = topology.parse(doc)
        for n in range(16 * per_rack):
            z, r, h = n // (4 * per_rack) + 1, n // per_rack % 4 + 1, n % per_rack + 1
            labels = {"zone": str(z), "rack": str(r)}
            spec = topology.HostSpec(f"z{z}r{r}h{h}", f"198.18.{n // 200}.{n % 200 + 1}", labels)
            topo, _ = topology.place_host(topo, spec)
        agg = routeplan.route_plan(topo, "z1r1h1").routes
        flat = routeplan.route_plan(topo, "z1r1h1", aggregate=False).routes
        rows.append((per_rack, len(topo.hosts), len(agg), len(flat)))
        listing = "\n".join(
            f"{r.dst!s:14} via {r.via!s:13} ({r.via_host})  "
            + (f"group {r.group}" if r.group else "same rack")
            for r in agg
        )
    head = ("hosts per rack", "hosts", "routes on z1r1h1", "routes on z1r1h1 without aggregation")
    return (
        table(head, rows) + "\nThe routes of `z1r1h1` with 16 hosts per rack:\n\n" + code(listing)
    )


@generator("tenant-pinning")
def tenant_pinning() -> str:
    from romana.core import tenancy
    from romana.core.errors import Exhausted

    topo, _ = demo()
    nets = [tenancy.NetworkAdmission(n.layout) for n in topo.networks]
    used: dict[str, list[int]] = {}
    rows = []
    for i in range(1, 17):
        ids = tenancy.pin_networks(f"t{i}", (), nets, used)
        for net, tid in ids.items():
            used.setdefault(net, []).append(tid)
        cap = tenancy.segment_capacity(tenancy.Tenant(f"t{i}", "", ids), topo.layouts) + 1
        rows.append((i, ", ".join(f"{k}={v}" for k, v in sorted(ids.items())), cap))
    out = [table(("tenant", "ids (network=id)", "segments it can have"), rows[:2] + rows[-2:])]
    try:
        tenancy.pin_networks("t17", ("pods",), nets, used)
    except Exhausted as exc:
        out.append("Pinning a tenant to `pods` once it is full:\n\n" + code(str(exc)))
    return "\n".join(out)


@generator("policy-compiled")
def policy_compiled() -> str:
    import json

    from romana.core import topology
    from romana.core.policy import compile as pc
    from romana.core.policy import parse
    from romana.core.render import iptables, nftables

    topo, tenants = demo()
    doc = {
        "name": "green-web-to-blue-db",
        "applied_to": [{"tenant": "blue", "segment": "db"}],
        "ingress": [
            {
                "peers": [{"tenant": "green", "segment": "web"}],
                "rules": [{"protocol": "tcp", "ports": [5432]}],
            }
        ],
    }
    own = topology.placement(topo, "host-2").prefixes
    rs = pc.compile_ruleset(
        pc.CompileInput(
            topo.layouts,
            tuple(tenants),
            "host-2",
            tuple(p.prefix for p in own),
            tuple(p.gateway for p in own),
            parse.policies([doc]),
        )
    )
    wanted = ("romana-ingress-allow", "romana-ia-", "romana-pi-")
    body = nftables.render(rs).rstrip().removesuffix("}").split("\n\n")
    nft = [textwrap.dedent(b.strip("\n")) for b in body if b.split()[:2][-1].startswith(wanted)]
    v4 = iptables.render(rs).filter_v4.splitlines()
    ipt = [x for x in v4 if x.startswith(tuple(f"-A {c.upper()}" for c in wanted))]
    return (
        code(json.dumps(doc), "json") + f"\nnftables on host-2 ({rs.rule_count} rules in "
        "all; the chains of ingress isolation and of this policy):\n\n"
        + code("\n\n".join(nft).replace("\t", "    "))
        + "\niptables, IPv4:\n\n"
        + code("\n".join(ipt))
    )


# fmt: off
POLICIES = [
    {"name": "ssh-and-ping", "description": "Romana v1 shape", "direction": "ingress",
     "applied_to": [{"tenant": "blue", "segment": "default"}],
     "ingress": [{"peers": [{"peer": "any"}], "rules": [
         {"protocol": "tcp", "ports": [22]}, {"protocol": "icmp", "icmp_type": 8}]}]},
    {"id": "dns-out", "direction": "egress", "applied_to": [{"tenant_id": "blue"}],
     "ingress": [{"peers": [{"cidr": "10.96.0.10/32"}],
                  "rules": [{"protocol": "udp", "ports": [53]}]}]},
    {"name": "no-host-in", "action": "deny", "applied_to": [{"tenant": "blue"}],
     "ingress": [{"peers": [{"peer": "host"}], "rules": [{"protocol": "any"}]}]},
    {"name": "host-out", "applied_to": [{"dest": "host"}],
     "egress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "any"}]}]},
    {"name": "bad", "direction": "sideways", "applied_to": [{"cidr": "10.0.0.0/8"}],
     "ingress": [{"peers": [{"peer": "everyone"}],
                  "rules": [{"protocol": "tcp", "ports": [22, 70000]}]}]},
]
# fmt: on


@generator("policy-examples")
def policy_examples() -> str:
    import json

    from romana.core.errors import InvalidInput, Unsupported
    from romana.services import policy

    out = []
    for raw in POLICIES:
        try:
            stored = policy.validate(raw)[0]
        except InvalidInput as exc:
            problems = "\n".join(str(issue) for issue in exc.issues)
            answer = "romanad refuses it (422), naming every problem:\n\n" + code(problems)
        except Unsupported as exc:
            answer = f"romanad refuses it (422): the dataplane cannot express it: {exc}\n"
        else:
            answer = "romanad stores:\n\n" + code(json.dumps(stored), "json")
        out.append(code(json.dumps(raw), "json") + "\n" + answer)
    return "\n".join(out)


# -- the role table of docs/security.md -------------------------------------------------------

# The owners a representative principal is asked about: its own and someone else's.
_OWNERS = {"tenant": ("blue", "green"), "host": ("host-1", "host-2")}


def member_docs(cls: type) -> dict[str, str]:
    """The docstring under each member of an enum class (``NAME = ...`` then a string), by
    member name; Python keeps no such docstring at run time, so it is read from the source."""
    import inspect

    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
    assert isinstance(body, ast.ClassDef)
    docs = {}
    for stmt, after in zip(body.body, body.body[1:], strict=False):
        if (
            isinstance(stmt, ast.Assign)
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[stmt.targets[0].id] = " ".join(after.value.value.split())
    return docs


def may_cell(auth: Any, role: Any, action: Any) -> str:
    """What ``auth.may`` lets a principal of ``role`` do with ``action``: ``yes`` without
    naming an owner, else the owners (own or any tenant or host) it is allowed on.

    The principal is what a user of the role is: a tenant user has its tenant, an agent user
    its host (when principals carry one), other roles neither."""
    targets = {f.name for f in dataclasses.fields(auth.Target)}
    kinds = [k for k in _OWNERS if k in targets]
    fields = {f.name for f in dataclasses.fields(auth.Principal)}
    bound = {"tenant": auth.Role.TENANT, "host": auth.Role.AGENT}
    owners = {k: _OWNERS[k][0] if role is bound[k] else None for k in _OWNERS if k in fields}
    principal = auth.Principal(username=f"{role}-user", role=role, **owners)
    if auth.may(principal, action):
        return "yes"
    parts = []
    for kind in kinds:
        own, other = (auth.may(principal, action, auth.Target(**{kind: o})) for o in _OWNERS[kind])
        if own and other:
            parts.append(f"any {kind}")
        elif own or other:
            parts.append(f"own {kind}" if own else f"other {kind} only")
    if "owner" in targets:
        # An owner is a user name recorded on the object: the principal's own, or another's.
        mine, theirs = (
            auth.may(principal, action, auth.Target(tenant=_OWNERS["tenant"][1], owner=o))
            for o in (principal.username, "someone-else")
        )
        if mine and not theirs and not parts:
            parts.append("owned")
    return ", ".join(parts) or "no"


@generator("roles")
def role_table() -> str:
    from romana.services import auth

    docs = member_docs(auth.Action)
    roles = list(auth.Role)
    rows = [
        (f"`{action}`", docs.get(action.name, ""), *(may_cell(auth, r, action) for r in roles))
        for action in auth.Action
    ]
    return table(("action", "what it covers", *(f"`{r}`" for r in roles)), rows)


# -- main --------------------------------------------------------------------------------------


def regenerate(text: str, where: str = "") -> str:
    def replace(m: re.Match[str]) -> str:
        name = m["name"]
        if name not in GENERATORS:
            raise SystemExit(f"gendocs: {where}: no generator for section {name!r}")
        body = GENERATORS[name]().rstrip("\n") + "\n"
        return f"{m['begin']}{body}{m['end']}"

    return SECTION.sub(replace, text)


def stale(paths: Sequence[Path]) -> list[str]:
    """``path: section`` for every generated section that differs from what the code says."""
    found = []
    for path in paths:
        text = path.read_text()
        fresh = {m["name"]: m["body"] for m in SECTION.finditer(regenerate(text, str(path)))}
        for m in SECTION.finditer(text):
            if fresh[m["name"]] != m["body"]:
                found.append(f"{path}: {m['name']}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="gendocs", description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when stale")
    p.add_argument("files", nargs="*", type=Path, default=list(DOCS))
    args = p.parse_args(argv)
    if args.check:
        found = stale(args.files)
        for item in found:
            print(f"stale generated section: {item}", file=sys.stderr)
        if found:
            print("run: python scripts/gendocs.py", file=sys.stderr)
        return 1 if found else 0
    for path in args.files:
        text = path.read_text()
        new = regenerate(text, str(path))
        if new != text:
            path.write_text(new)
            print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
