"""The CNI plugin ``romana-cni`` (spec 1.1.0, and results for 0.3.0 … 1.1.0).

A thin, standard-library-only client of romana-agent: it translates each CNI command into one
call of the agent's endpoint port (:class:`romana.core.endpoint.EndpointPort`: the agent's own
when the agent hosts the plugin, else its local API over the socket, :mod:`.agentapi`) and the
answer back into a CNI result or error. It creates no interface itself. Modules: :mod:`.spec`
(versions, codes, result shapes), :mod:`.request` (environment and configuration),
:mod:`.placement` (tenant and segment), :mod:`.commands` (the commands), :mod:`.plugin`
(``run``, ``answer``), :mod:`.pending` (releases DEL could not hand over), :mod:`.main`.
"""
