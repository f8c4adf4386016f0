"""Source adapters, one module per source family; each exposes ``adapt(spec, paths)``.

An adapter is also the one home of what its source's *papers* did with the rows, for the paper
protocols (:mod:`alloyml.evaluation.paper_protocols`). These optional functions take the interim
table the adapter wrote (every kept row, canonical columns) and are defined only where a paper
needs them:

- ``paper_rows(frame) -> DataFrame``: the rows the papers modelled (Hu: ``Sheet1`` only).
- ``paper_split(frame) -> (train, test)``: row positions of the papers' fixed train/test split
  (Hu: named alloys vs ``Unspecified``; A357: the authors' 215/50 split).
- ``paper_categories(frame) -> DataFrame``: the source's own process categories, one-hot, that
  the papers used as inputs (ANU ``Processing``, Hu's categorical process columns, M-916
  ``Coded``).
- ``paper_features(frame) -> DataFrame``: the papers' own numeric inputs (A357: the five
  measured wt % columns).
"""
