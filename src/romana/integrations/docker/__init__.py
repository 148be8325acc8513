"""romana as Docker's network and IPAM driver: the libnetwork remote plugin ``romana``.

``docker network create -d romana --ipam-driver romana -o romana.tenant=T [-o
romana.segment=S] NAME`` makes a Docker network that is one (tenant, segment) of one romana
network, routed without an overlay across every host of the Docker cluster. The agent of each
host serves the plugin on a Unix socket (setting ``docker_socket``; Docker finds it as
``/run/docker/plugins/romana.sock``) and wires its endpoints through the one endpoint port
(:class:`romana.core.endpoint.EndpointPort`), as it does CNI's and Nova's.

:mod:`.protocol` holds the protocol's shapes and rules (pure), :mod:`.ports` what the plugin
needs from the agent, :mod:`.state` what it remembers, :mod:`.ipamdriver` and
:mod:`.netdriver` the two drivers, :mod:`.plugin` the dispatch of docker's calls. The package
imports nothing of the agent (the import contracts), so the agent hands it its parts.
"""
