"""Boot neutron-server's API for the lab: run by path with the OpenStack environment's Python.

``python neutron_wsgi.py WORKDIR PORT --config-file neutron.conf --config-file ml2_conf.ini``

Neutron no longer ships a ``neutron-server`` script for its API: the API is a WSGI application
that :func:`neutron.server.boot_server` builds from the configuration in ``sys.argv``. Before
that, this script copies the installed ``api-paste.ini`` beside the configuration and creates
the SQLite schema from Neutron's models (its alembic migrations cannot alter constraints on
SQLite), adding the four default security group rule templates that a migration would insert.
The API is then served single-threaded by :mod:`wsgiref` on 127.0.0.1:PORT until SIGTERM.

Run by path, not as ``romana.lab.neutron_wsgi``, so that nothing of the lab package is imported
into neutron-server's process; romana's drivers are found through their entry points.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path
from typing import Any
from wsgiref import simple_server


def _create_schema(url: str) -> None:
    import sqlalchemy
    from neutron.db.migration.models import head  # noqa: F401  (registers every model)
    from neutron_lib.db import model_base

    engine = sqlalchemy.create_engine(url)
    metadata = model_base.BASEV2.metadata
    metadata.create_all(engine)
    attrs = metadata.tables["standardattributes"]
    templates = metadata.tables["securitygroupdefaultrules"]
    # Egress anywhere for every group; ingress from the group itself for default groups only:
    # the legacy defaults that migration c33da356b165 inserts.
    rules = [
        ("egress", "IPv4", None, True),
        ("egress", "IPv6", None, True),
        ("ingress", "IPv4", "PARENT", False),
        ("ingress", "IPv6", "PARENT", False),
    ]
    with engine.begin() as db:
        if db.execute(sqlalchemy.select(templates)).first() is not None:
            return
        for direction, ethertype, remote_group, in_non_default in rules:
            inserted = db.execute(
                sqlalchemy.insert(attrs).values(
                    resource_type="securitygroupdefaultrules",
                    description=f"Legacy default SG rule for {direction} traffic",
                    revision_number=0,
                )
            )
            db.execute(
                sqlalchemy.insert(templates).values(
                    id=str(uuid.uuid4()),
                    standard_attr_id=inserted.inserted_primary_key[0],
                    direction=direction,
                    ethertype=ethertype,
                    remote_group_id=remote_group,
                    used_in_default_sg=True,
                    used_in_non_default_sg=in_non_default,
                )
            )


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """neutron-server logs every request itself."""


def main() -> None:
    workdir, port = Path(sys.argv[1]), int(sys.argv[2])
    shutil.copy(Path(sys.prefix) / "etc" / "neutron" / "api-paste.ini", workdir / "api-paste.ini")
    _create_schema(f"sqlite:///{workdir / 'neutron.db'}")
    sys.argv = ["neutron-api", *sys.argv[3:]]

    import neutron.server
    from neutron.server import api as api_server

    app = neutron.server.boot_server(api_server.api_server, prog="neutron-api")
    server = simple_server.make_server("127.0.0.1", port, app, handler_class=_QuietHandler)
    server.serve_forever()


if __name__ == "__main__":
    main()
