"""Installing romana: host files and units, the CNI plugin on a node, Kubernetes manifests.

Everything an installation names (the image, the paths on a node, the agent's capabilities)
is defined once in :mod:`romana.deploy.layout`; the host installer, the Kubernetes manifests,
the container image and their tests all read it from there.
"""
