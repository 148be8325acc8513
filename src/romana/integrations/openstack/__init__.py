"""romana inside neutron-server: the Neutron IPAM driver and the ML2 mechanism driver ``romana``.

Loaded by neutron-server through the entry point groups ``neutron.ipam_drivers`` and
``neutron.ml2.mechanism_drivers`` (docs/openstack.md). A client of romanad like any other:
it reaches romanad over its REST API with an ``openstack``-role user and imports neither the
services nor the store. Only :mod:`~romana.integrations.openstack.ipam`,
:mod:`~romana.integrations.openstack.mech`, :mod:`~romana.integrations.openstack.backend`,
:mod:`~romana.integrations.openstack.securitygroup_sync`,
:mod:`~romana.integrations.openstack.routers`, :mod:`~romana.integrations.openstack.resync`
and :mod:`~romana.integrations.openstack.reconcile` import Neutron's libraries;
:mod:`~romana.integrations.openstack.mapping`,
:mod:`~romana.integrations.openstack.external_ips` and
:mod:`~romana.integrations.openstack.securitygroups` are pure, so this package imports without
Neutron installed.
"""
