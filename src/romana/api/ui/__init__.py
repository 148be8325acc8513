"""romanad's read-only web view at ``/ui`` (docs/ui.md).

Server-rendered pages over the REST API's own reads: the topology tree, the address plan with
a decoder, address usage, tenants and policies, and a reachability matrix answered by
``romana explain``'s engine. :mod:`.session` logs users in and out with the API's tokens kept in
a cookie; :mod:`.web` holds the routes, :mod:`.reads` what they read (through the REST route
handlers, so authorisation is the API's), :mod:`.views` the pure computations, :mod:`.pages`,
:mod:`.reachability` and :mod:`.html` the markup. The script and style sheet in ``static/``
are the only other files served; nothing is fetched from anywhere else.
"""
