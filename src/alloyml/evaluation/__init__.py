"""Evaluation beside training: the source papers' own protocols (:mod:`.paper_protocols`)."""
