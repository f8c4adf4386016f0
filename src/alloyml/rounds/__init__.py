"""Experimental rounds of a campaign as records: propose, lab sheet, measured results back in.

A lab works in rounds: propose a batch, cast and heat-treat it, test it, feed the results back,
propose again. Each round of campaign ``<c>`` is a folder ``<rounds>/<c>/round-N/`` (default
``data/rounds/``, kept in git; the search's own study goes to ``search/``, which is ignored):

* ``round.json``: the candidates (id ``<c>-rN-cK``, exact design, predictions and intervals), the
  models used (registry version when MLflow has one, digest of the bundle files, data digest),
  the digest of the campaign's parameters, the seeds, the pending designs of earlier rounds that
  the selection treated as fantasies and the measured ones it excluded;
* ``candidates.csv`` / ``candidates.md``: the candidate cards (:mod:`alloyml.search.candidates`);
* ``sheet.xlsx`` / ``sheet.csv``: the lab sheet (:mod:`.sheet`);
* ``results.<ext>``, ``record.json``, ``measured.csv``, ``rejects.csv``: the filled sheet as
  received, the accounting of its rows, the rows kept and the rows rejected with reasons
  (:mod:`.record`).

Commands (``alloyml round ...``): ``propose`` (:mod:`.propose`), ``sheet``, ``record``,
``status`` (:mod:`.status`). A candidate is *measured* once a recorded row of it was kept, and
*pending* until then: later proposals treat pending candidates as fantasies and never propose a
design within the campaign's ``min_distance`` of a pending or measured one.
"""

from alloyml.rounds.store import RoundError, Rounds

__all__ = ["RoundError", "Rounds"]
