"""The operator docs say what the code does.

* The generated sections (configuration and CLI references, metrics, CNI keys, the worked
  examples of docs/concepts.md, the role table of docs/security.md) are what
  ``scripts/gendocs.py`` makes of the code now, and ``--check`` catches a stale one.
* Examples written by hand — the TOML files, the conflist, the ``romana decode`` output, the
  error messages and numbers quoted in the prose — are fed to the real code and must come
  out as the docs say.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from romana import config
from romana.agent.settings import AgentSettings
from romana.api.settings import RomanadSettings
from romana.cli import main as cli_main
from romana.cli.settings import CliSettings
from romana.core import addressing, errors, hostplan, ipam, topology
from romana.core.identifiers import NetworkName
from romana.dataplane import rtnl
from romana.integrations.cni import commands, plugin, request
from romana.integrations.cni import main as cni_main

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"
CONCEPTS = ROOT / "docs" / "concepts.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
SECURITY = ROOT / "docs" / "security.md"
DOCS = (OPERATIONS, CONCEPTS, ARCHITECTURE)


def _gendocs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gendocs", ROOT / "scripts" / "gendocs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gendocs = _gendocs()


def blocks(path: Path, lang: str) -> list[str]:
    """The fenced code blocks of one language in a Markdown file."""
    return re.findall(rf"^```{lang}\n(.*?)^```$", path.read_text(), re.S | re.M)


# -- generated sections ----------------------------------------------------------------------


def test_generated_sections_are_current() -> None:
    stale = gendocs.stale(list(gendocs.DOCS))
    assert stale == [], f"stale generated docs, run `python scripts/gendocs.py`: {stale}"


def test_every_doc_has_the_generated_sections_it_promises() -> None:
    found = {m["name"] for d in gendocs.DOCS for m in gendocs.SECTION.finditer(d.read_text())}
    assert found == set(gendocs.GENERATORS)


def test_check_fails_on_a_stale_section_and_regenerating_repairs_it(tmp_path: Path) -> None:
    doc = tmp_path / "operations.md"
    original = OPERATIONS.read_text()
    row = "| `socket` | `--socket` | `ROMANA_AGENT_SOCKET` |"  # in the generated agent table
    doc.write_text(original.replace(row, row.replace("SOCKET`", "SOKET`"), 1))
    script = [sys.executable, str(ROOT / "scripts" / "gendocs.py")]
    checked = subprocess.run([*script, "--check", str(doc)], capture_output=True, text=True)
    assert checked.returncode == 1
    assert f"{doc}: config-agent" in checked.stderr
    assert gendocs.main([str(doc)]) == 0
    assert doc.read_text() == original
    assert gendocs.main(["--check", str(doc)]) == 0


def test_the_role_table_is_what_the_authorisation_rule_answers(tmp_path: Path) -> None:
    from romana.services import auth

    text = SECURITY.read_text()
    body = next(m["body"] for m in gendocs.SECTION.finditer(text) if m["name"] == "roles")
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in body.splitlines()[2:]}
    assert set(rows) == {f"`{a}`" for a in auth.Action}
    assert rows["`manage-users`"].endswith("| yes | no | no | no | no | no |")
    # A grant the rule does not make, written into the table, is caught as stale.
    doc = tmp_path / "security.md"
    doc.write_text(
        text.replace(
            rows["`manage-users`"],
            rows["`manage-users`"].replace("| yes | no |", "| yes | yes |", 1),
        )
    )
    assert gendocs.stale([doc]) == [f"{doc}: roles"]


def test_an_unknown_section_stops_the_generator(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("<!-- BEGIN GENERATED nonsense -->\n<!-- END GENERATED nonsense -->\n")
    with pytest.raises(SystemExit, match="no generator for section 'nonsense'"):
        gendocs.main([str(doc)])


@pytest.mark.parametrize("cls", [RomanadSettings, AgentSettings, CliSettings])
def test_every_setting_and_its_variable_is_in_the_reference(cls: type) -> None:
    text = OPERATIONS.read_text()
    for row in config.reference(cls):
        assert f"| `{row['name']}` |" in text
        if row["env"]:
            assert f"`{row['env']}`" in text


def test_every_cli_command_has_a_heading() -> None:
    import typer

    text = OPERATIONS.read_text()
    root = typer.main.get_command(cli_main.app)
    ctx = root.context_class(root, info_name="romana")

    def walk(cmd: Any, ctx: Any) -> None:
        assert f"#### `{ctx.command_path}`" in text
        for name in getattr(cmd, "list_commands", lambda _: [])(ctx):
            sub = cmd.get_command(ctx, name)
            if not sub.hidden:
                walk(sub, sub.context_class(sub, info_name=name, parent=ctx))

    walk(root, ctx)


def prose(path: Path) -> str:
    """The hand-written part of a doc: generated sections removed."""
    return gendocs.SECTION.sub("", path.read_text())


def command_lines(text: str, exe: str) -> list[str]:
    """Every ``EXE ...`` command line of the text: inline code and lines of code blocks."""
    fenced = re.compile(r"^```\w*\n(.*?)^```$", re.S | re.M)
    head = re.compile(rf"^(?:\$ )?(?:[A-Z_]+=\S+ )*({re.escape(exe)} .*)")
    found = [
        m[1]
        for block in fenced.findall(text)
        for line in block.replace("\\\n", " ").splitlines()
        if (m := head.match(line))
    ]
    found += re.findall(rf"`({re.escape(exe)} [^`\n]+)`", fenced.sub("", text))
    return found


def test_romana_commands_in_the_prose_exist_with_their_options() -> None:
    import shlex

    import typer

    root = typer.main.get_command(cli_main.app)
    lines = [c for d in DOCS for c in command_lines(prose(d), "romana")]
    assert len(lines) > 10
    for line in lines:
        cmd, known = root, {o for p in root.params for o in p.opts}
        for word in shlex.split(line, comments=True)[1:]:
            if word.startswith("-") and word != "-":
                assert word.split("=")[0] in known, f"{line!r}: no option {word}"
            elif word in (commands := getattr(cmd, "commands", {})):
                cmd = commands[word]
                known |= {o for p in cmd.params for o in p.opts + p.secondary_opts}
        assert not hasattr(cmd, "commands"), f"{line!r} names no command"


def daemon_lines(exe: str) -> list[list[str]]:
    import shlex

    lines = [c for d in DOCS for c in command_lines(prose(d), exe)]
    assert lines, f"the docs show no {exe} command"
    return [shlex.split(line, comments=True)[1:] for line in lines]


def test_romanad_command_lines_are_valid_settings() -> None:
    from romana import store
    from romana.api import main as romanad_main

    for argv in daemon_lines("romanad"):
        settings, warnings = romanad_main.load_settings(argv, {})
        assert warnings == ()
        scheme, _, rest = settings.store.partition("://")
        if scheme == "etcd":
            assert store.parse_etcd(rest)[0]


def test_agent_command_lines_are_valid_settings() -> None:
    from romana.agent import main as agent_main

    for argv in daemon_lines("romana-agent"):
        # The password comes from the file a line names, or else from the environment.
        environ = {} if "--password-file" in argv else {"ROMANA_AGENT_PASSWORD": "CHANGE-ME"}
        loaded = agent_main.load_settings(argv, environ)
        assert loaded.warnings == ()


def test_listener_command_lines_parse() -> None:
    from romana.integrations.kubernetes import main as listener_main

    for argv in daemon_lines("romana-listener"):
        args = listener_main.parser().parse_args(argv)
        assert args.kube_api and args.store


# -- examples written by hand ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "cls"), [("romanad", RomanadSettings), ("agent", AgentSettings)]
)
def test_toml_examples_load_without_warnings(tmp_path: Path, section: str, cls: type) -> None:
    examples = [b for b in blocks(OPERATIONS, "toml") if b.startswith(f"[{section}]")]
    assert examples, f"no [{section}] example in operations.md"
    for i, text in enumerate(examples):
        path = tmp_path / f"{section}-{i}.toml"
        path.write_text(text)
        # The agent's password comes from the file the example names, or its environment.
        environ = {} if "password_file" in text else {"ROMANA_AGENT_PASSWORD": "CHANGE-ME"}
        loaded: config.Loaded[Any] = config.load(cls, environ=environ, file=path, section=section)
        assert loaded.warnings == ()
        assert all(loaded.sources[k] == f"file:{path}" for k in tomllib_keys(text))


def tomllib_keys(text: str) -> list[str]:
    return [k for table in tomllib.loads(text).values() for k in table]


def test_the_conflist_is_accepted_by_the_plugin() -> None:
    conflist = json.loads(next(b for b in blocks(OPERATIONS, "json") if '"plugins"' in b))
    entry = conflist["plugins"][0]
    assert entry["type"] == "romana-cni"
    # libcni hands each plugin its entry with the list's name and version added.
    conf = {**entry, "name": conflist["name"], "cniVersion": conflist["cniVersion"]}
    env = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": "/proc/1/ns/net",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "CNI_ARGS": "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0",
    }
    req = request.parse("ADD", env, json.dumps(conf).encode())
    assert req.placement is not None
    assert (req.placement.tenant, req.placement.segment) == ("shop", "default")
    assert req.settings.agent_socket == AgentSettings().socket
    assert req.settings.pending_dir == AgentSettings().pending_dir


def run_plugin(env: dict[str, str], conf: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    code = plugin.run(env, io.BytesIO(json.dumps(conf).encode()), out, err)
    return code, json.loads(out.getvalue())


def test_version_output_is_what_the_docs_show() -> None:
    shown = re.search(r"CNI_COMMAND=VERSION romana-cni\n(\{.*\})\n", OPERATIONS.read_text())
    assert shown is not None
    code, answer = run_plugin({"CNI_COMMAND": "VERSION"}, {"cniVersion": "1.1.0"})
    assert code == 0 and answer == json.loads(shown[1])


def test_an_unreachable_agent_is_error_11_on_add_and_50_on_status(tmp_path: Path) -> None:
    socket = tmp_path / "agent.sock"
    conf = {"cniVersion": "1.1.0", "name": "romana", "type": "romana-cni", "tenant": "shop"}
    conf["agent_socket"] = str(socket)
    add = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/proc/1/ns/net"}
    add |= {"CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin"}
    code, answer = run_plugin(add, conf)
    assert (code, answer["code"], answer["msg"]) == (1, 11, "try again later")
    quoted = answer["details"].replace(str(socket), AgentSettings().socket)
    assert " ".join(quoted.split()) in " ".join(OPERATIONS.read_text().split())
    code, answer = run_plugin({"CNI_COMMAND": "STATUS"}, conf)
    assert (code, answer["code"]) == (1, 50)


@pytest.mark.parametrize(
    ("exc", "command", "code"),
    [
        (errors.Exhausted("full"), "ADD", 11),
        (errors.Exhausted("full"), "STATUS", 50),
        (errors.NotFound("tenant 'shop' does not exist"), "ADD", 3),
        (errors.AlreadyExists("interface 'eth0' already exists"), "ADD", 101),
        (errors.Unsupported("ipam"), "ADD", 2),
    ],
)
def test_cni_error_codes_the_troubleshooting_names(
    exc: errors.RomanaError, command: str, code: int
) -> None:
    assert commands.to_cni_error(exc, command).code == code


def test_the_exhausted_message_quoted_is_the_one_ipam_gives() -> None:
    lay = addressing.layout("pods", "10.0.0.0/8", 4, 4, 8)
    slot = ipam.Slot(NetworkName("pods"), 0, 2, 0)
    with pytest.raises(errors.Exhausted) as caught:
        ipam.choose_ordinal(lay, slot, range(1, lay.max_ordinal + 1))
    assert f"\n{caught.value}\n" in OPERATIONS.read_text()


def test_the_decode_example_is_the_demo() -> None:
    console = next(b for b in blocks(CONCEPTS, "console") if b.startswith("$ romana decode"))
    shown = yaml.safe_load(console.split("\n", 1)[1])
    topo, tenants = gendocs.demo()
    index = topology.placement(topo, shown["host"]).indices
    tenant = next(t for t in tenants if t.name == shown["tenant"])
    d = addressing.decode(topo.layouts[shown["network"]], shown["address"])
    assert (d.host, d.tenant, d.segment, d.ordinal) == (
        shown["host_index"],
        shown["tenant_id"],
        shown["segment_id"],
        shown["ordinal"],
    )
    assert index[shown["network"]] == d.host
    assert tenant.ids[shown["network"]] == d.tenant
    assert tenant.segments[shown["segment"]] == d.segment
    assert str(d.host_prefix) == shown["host_prefix"]
    expected = [
        str(addressing.encode(topo.layouts[n], index[n], tenant.ids[n], d.segment, d.ordinal))
        for n in tenant.ids
    ]
    assert shown["allocation"]["addresses"] == expected


# -- numbers quoted in the prose -----------------------------------------------------------------

CLAIMS = [
    (
        CONCEPTS,
        "Defaults: 4/4/8 for IPv4,\n16/16/16 for IPv6",
        addressing.DEFAULT_WIDTHS,
        {4: (4, 4, 8), 6: (16, 16, 16)},
    ),
    (
        OPERATIONS,
        "at most `2^endpoint_bits - 2` addresses",
        addressing.layout("n", "10.0.0.0/8", 4, 4, 8).max_ordinal,
        2**8 - 2,
    ),
    (OPERATIONS, "`127.0.0.1:9604/metrics`", AgentSettings().metrics, "127.0.0.1:9604"),
    (OPERATIONS, "on `/run/romana/agent.sock`", AgentSettings().socket, "/run/romana/agent.sock"),
    (OPERATIONS, "listens on `127.0.0.1:9600`", RomanadSettings().listen, "127.0.0.1:9600"),
    (OPERATIONS, "default 10, and after", AgentSettings().reconcile_interval, 10.0),
    (OPERATIONS, "24 h by default", RomanadSettings().token_ttl, 24 * 3600.0),
    (OPERATIONS, "(seconds, default 60)", cni_main.DEFAULT_TIMEOUT_SECONDS, 60.0),
    (OPERATIONS, "routes with protocol 82", rtnl.ROUTE_PROTOCOL, 82),
    (ARCHITECTURE, "route protocol 82", rtnl.ROUTE_PROTOCOL, 82),
    (ARCHITECTURE, "`romana` + 9 hex digits", len(hostplan.host_ifname("k")) - 6, 9),
    (ARCHITECTURE, "younger than 60 s", AgentSettings().gc_grace, 60.0),
    (ARCHITECTURE, "(10) and after every reconnect", AgentSettings().reconcile_interval, 10.0),
]


@pytest.mark.parametrize(("doc", "text", "actual", "expected"), CLAIMS)
def test_numbers_in_the_prose(doc: Path, text: str, actual: object, expected: object) -> None:
    assert " ".join(text.split()) in " ".join(doc.read_text().split())
    assert actual == expected


def test_cli_exit_codes_in_the_prose() -> None:
    listed = {label: code for _, code, label in cli_main.EXIT_CODES if code != 1}
    text = " ".join(OPERATIONS.read_text().split())
    for label, code in listed.items():
        assert f"{code} {label}" in text
