"""Stage ``train`` and what uses its models.

* :mod:`.models`: the model families (and the schedule imputer in front of them);
* :mod:`.validation`: the splits of every protocol and the regression metrics;
* :mod:`.uncertainty`: conformal intervals (Mondrian by domain, frontier) and the domain of
  applicability;
* :mod:`.train`: screening, champion rule, nested tuning, protocols, final fit;
* :mod:`.bundle`: a trained model with its interval and domain, in safe formats;
* :mod:`.predict`: ``alloyml predict`` on alloy strings and CSV files;
* :mod:`.tracking` and :mod:`.mlflow_model`: MLflow runs, registry and the pyfunc wrapper.
"""
