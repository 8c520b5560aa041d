"""The children of each subtree, one module per subtree (``ingress.py``, ``trading.py``, ``broker.py``,
``telegram.py``, ``ops.py``), each with ``children(cfg, defaults) -> list[ChildSpec]``.

``defaults`` are the subtree's supervision timings (``supervision`` and ``supervision.subtrees.NAME``); a
module applies them to its ChildSpecs and reads everything else from its own config sections. A subtree
without a module has no children but the user's ``[[supervision.extra]]``.
"""
