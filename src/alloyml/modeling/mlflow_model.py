"""MLflow pyfunc wrapper of an alloyml bundle, logged as *model from code* (nothing pickled).

MLflow executes this file when it loads the model; the bundle directory (safe formats, see
:mod:`alloyml.modeling.bundle`) travels as an artefact.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class AlloyModel(PythonModel):
    """Predicts ``pred``, ``lo``, ``hi``, ``in_domain`` from the feature columns of a bundle."""

    def load_context(self, context) -> None:
        from alloyml.modeling.bundle import load_bundle

        self.bundle = load_bundle(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        X = model_input[self.bundle.features].to_numpy(dtype=float)
        out = self.bundle.predict(X)
        return pd.DataFrame({k: out[k] for k in ("pred", "lo", "hi", "in_domain")})


mlflow.models.set_model(AlloyModel())
