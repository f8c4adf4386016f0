"""Evaluations beside training: the discovery backtest (:mod:`.backtest`) and the source papers'
own protocols (:mod:`.paper_protocols`), which reproduce published experiments on their data."""
