"""One reconcile of the VPC route tables: read EC2, plan (:mod:`romana.core.vpcroutes`), apply.

:meth:`Publisher.reconcile` takes a parsed topology and, in this order: reads every table the
topology names or the publisher owns routes in, and the instances at the routed hosts'
addresses; turns the source/destination check off where the plan says; then, table by table,
records the destinations it is about to create, makes the calls, and records what it owns
afterwards (:mod:`.owned`, whose invariant this order keeps). A failed call is reported and
the rest go on: the next reconcile starts from what EC2 then says, so nothing is retried here.

A table that no longer exists is reported; when no tree names it any more its record is
dropped (there is nothing left to own).

The EC2 side is the :class:`Ec2Port` protocol, implemented by :class:`.ec2.Ec2` over boto3.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from romana.core import addressing, topology, vpcroutes
from romana.core.errors import NotFound, RomanaError
from romana.integrations.aws.owned import OwnedRoutes

log = logging.getLogger("romana.aws")


class Ec2Port(Protocol):
    def instances(
        self, ips: Iterable[addressing.IPAddress]
    ) -> dict[addressing.IPAddress, vpcroutes.Instance]: ...

    def routes(self, table: str) -> tuple[vpcroutes.TableRoute, ...]: ...

    def apply(self, change: vpcroutes.Change) -> None: ...

    def disable_source_dest_check(self, instance: str) -> None: ...


@dataclass(slots=True)
class Report:
    """What one reconcile did and could not do."""

    done: list[vpcroutes.Change] = field(default_factory=list)
    source_dest: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No refusal and no failed call (notes are expected states, not failures)."""
        return not (self.refused or self.errors)

    def summary(self) -> str:
        kinds = [c.kind for c in self.done]
        return (
            f"{kinds.count(vpcroutes.Kind.CREATE)} created, "
            f"{kinds.count(vpcroutes.Kind.REPLACE)} replaced, "
            f"{kinds.count(vpcroutes.Kind.DELETE)} deleted, "
            f"source/destination check turned off on {len(self.source_dest)} instances, "
            f"{len(self.refused)} tables refused, {len(self.errors)} errors"
        )


class Publisher:
    def __init__(self, ec2: Ec2Port, owned: OwnedRoutes) -> None:
        self._ec2 = ec2
        self._owned = owned
        self._said: set[str] = set()

    def reconcile(self, topo: topology.Topology) -> Report:
        report = Report()
        if not topo.trees and self._owned.tables:
            # A romanad that serves no topology at all (a new or wrong store) is no reason
            # to take every route away from a running cluster.
            report.errors.append(
                "romanad's topology has no topologies[] at all: the routes this publisher "
                "made are kept; remove them with a topology that lists none in aws"
            )
            return self._told(report)
        want = vpcroutes.wanted(topo)
        current: dict[str, tuple[vpcroutes.TableRoute, ...]] = {}
        for table in sorted(set(want.limits) | set(self._owned.tables)):
            try:
                current[table] = self._ec2.routes(table)
            except NotFound as exc:
                report.errors.append(str(exc))
                if table not in want.limits:
                    self._owned.set(table, ())
            except RomanaError as exc:
                report.errors.append(f"route table {table}: {exc}")
        try:
            instances = self._ec2.instances(h.ip for h in vpcroutes.hosts_of(want))
        except RomanaError as exc:
            report.errors.append(f"instances: {exc}")
            return self._told(report)
        plan = vpcroutes.plan(want, instances, current, self._owned.tables)
        report.notes.extend(f"host {name}: no instance has its ip" for name in plan.unmatched)
        for instance in plan.source_dest:
            try:
                self._ec2.disable_source_dest_check(instance)
            except RomanaError as exc:
                report.errors.append(f"source/destination check of {instance}: {exc}")
            else:
                report.source_dest.append(instance)
                log.info("source/destination check turned off on %s", instance)
        for table_plan in plan.tables:
            self._apply(table_plan, current[table_plan.table], report)
        return self._told(report)

    def _apply(
        self,
        table_plan: vpcroutes.TablePlan,
        present: tuple[vpcroutes.TableRoute, ...],
        report: Report,
    ) -> None:
        table = table_plan.table
        before = self._owned.tables.get(table, frozenset())
        creating = {c.dst for c in table_plan.changes if c.kind is vpcroutes.Kind.CREATE}
        self._owned.set(table, before | creating)
        done: list[vpcroutes.Change] = []
        for change in table_plan.changes:
            try:
                self._ec2.apply(change)
            except NotFound as exc:
                if change.kind is vpcroutes.Kind.DELETE:
                    done.append(change)  # gone already: what the deletion wanted
                else:
                    report.errors.append(f"{change.describe()}: {exc}")
            except RomanaError as exc:
                report.errors.append(f"{change.describe()}: {exc}")
            else:
                log.info("%s", change.describe())
                done.append(change)
        self._owned.set(table, vpcroutes.owned_after(before, present, done))
        report.done.extend(done)
        if table_plan.refused:
            report.refused.append(table_plan.refused)
        report.notes.extend(table_plan.notes)

    def _told(self, report: Report) -> Report:
        """Log refusals, errors and notes; a note only when it is new, so that a lasting state
        (a stopped group) is not repeated at every reconcile."""
        for text in report.refused + report.errors:
            log.error("%s", text)
        for text in report.notes:
            if text not in self._said:
                log.warning("%s", text)
        self._said = set(report.notes)
        log.info("reconciled: %s", report.summary())
        return report
