"""Evaluations beside training: the discovery backtest (:mod:`.backtest`) and the paper protocols
that reproduce published experiments on their own data."""
