"""Stage ``clean``: one validated, provenance-carrying table per alloy system, and its data card.

* :mod:`.clean`: unit and basis checks, replicate and duplicate handling, accounting of every row
  (kept or rejected with a reason);
* :mod:`.datacard`: the data card (``reports/data/<system>.md``) and its plots.
"""
