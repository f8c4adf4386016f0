"""Constrained inverse design with Optuna: campaigns, design space, batched search, candidates.

Modules, one concern each:

* :mod:`.campaign`: campaigns from ``params.yaml`` (``search.campaigns``), validated;
* :mod:`.space`: the design space (wt % bounds, balance, cardinality, routes/tempers,
  conditional stages) and its two Optuna encodings; exact designs and their distances;
* :mod:`.evaluate`: one featurization + one prediction per model per batch; acquisitions,
  constraints and the domain policy;
* :mod:`.measured`: measured alloys (reference values, training maxima, nearest alloys);
* :mod:`.sampler`: seeded TPE / NSGA-II (incremental book-keeping) / random;
* :mod:`.storage`: embedded journal file or a shared RDB (PostgreSQL) study;
* :mod:`.runner`: the batched ask/tell loop of one worker;
* :mod:`.candidates`: ranking, diverse batch, candidate cards;
* :mod:`.plots`, :mod:`.track`: PNGs and MLflow logging;
* :mod:`.api`: :func:`run_campaign`, used by the CLI, the DVC stage and the benchmark.
"""

from alloyml.search.api import SearchResult, run_campaign
from alloyml.search.campaign import Campaign, SearchError, get_campaign, search_campaigns

__all__ = [
    "Campaign",
    "SearchError",
    "SearchResult",
    "get_campaign",
    "run_campaign",
    "search_campaigns",
]
