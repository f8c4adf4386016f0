"""A trained model bundle on disk, in safe formats only (no pickle).

``models/<system>/<target>/`` holds:

- ``model.json`` (XGBoost's own JSON format), ``model.forest.npz`` (a scikit-learn random or
  extra-trees forest as plain arrays, see :mod:`alloyml.modeling.compact`) or ``model.skops`` (other
  scikit-learn models via skops; on load only scikit-learn / numpy / scipy types are trusted,
  anything else is refused); a mean blend (:data:`alloyml.modeling.models.BLENDS`) holds one
  such file per member instead, ``member<i>.<ext>``, listed in order under ``members`` in
  ``meta.json``;
- ``calibration.npz``: arrays for the conformal interval and the domain of applicability,
  loaded with ``allow_pickle=False``;
- ``meta.json``: model family and hyper-parameters, feature preset and feature names (the input
  schema), target, nominal coverage, validation metrics, data digest.

Loading a forest or XGBoost bundle imports neither scikit-learn nor XGBoost: the trees are walked
and the nearest training rows found with numpy (:mod:`alloyml.modeling.compact`), with the libraries'
predictions. This is what keeps ``alloyml predict`` within two seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alloyml.errors import AlloyMLError
from alloyml.modeling import compact
from alloyml.modeling.uncertainty import ConformalInterval, ConformalScale, Domain

#: model files a bundle may hold (one at a time)
MODEL_FILES = ("model.json", "model.forest.npz", "model.skops")

#: The only non-default types skops may load: what alloyml's model families need (see
#: :mod:`alloyml.modeling.models`). An exact list, not prefixes: ``builtins.eval`` or ``numpy.vectorize``
#: inside a tampered file would otherwise run code on load.
_TRUSTED_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.gaussian_process.kernels.ConstantKernel",
        "sklearn.gaussian_process.kernels.Matern",
        "sklearn.gaussian_process.kernels.Product",
        "sklearn.gaussian_process.kernels.Sum",
        "sklearn.gaussian_process.kernels.WhiteKernel",
    }
)


@dataclass
class Bundle:
    """A fitted estimator with its interval, domain model and metadata."""

    estimator: Any
    interval: ConformalInterval
    domain: Domain
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return list(self.meta["features"])

    def predict(self, X: np.ndarray, spread: bool = False) -> dict[str, np.ndarray]:
        """Point prediction, interval bounds, domain distance and flag for rows of ``X``; with
        ``spread``, also the model's own spread (``"spread"``, when the model has one; see
        :func:`alloyml.modeling.models.predict_with_spread`) from the same pass over the trees."""
        X = np.asarray(X, dtype=float)
        sp = None
        if not spread:
            pred = np.asarray(self.estimator.predict(X), dtype=float)
        elif hasattr(self.estimator, "predict_with_spread"):  # numpy models of a loaded bundle
            pred, sp = self.estimator.predict_with_spread(X)
        else:  # a fitted scikit-learn model
            from alloyml.modeling.models import predict_with_spread

            pred, sp = predict_with_spread(self.estimator, X)
        pred = np.asarray(pred, dtype=float)
        dist = self.domain.distance(X)
        support = self.domain.support(X)
        in_domain = (dist <= self.domain.threshold_) & (support >= self.domain.min_support)
        lo, hi = self.interval.predict_interval(X, pred, in_domain)
        out = {
            "pred": pred,
            "lo": lo,
            "hi": hi,
            "domain_distance": dist,
            "domain_support": support,
            "in_domain": in_domain,
        }
        if sp is not None:
            out["spread"] = np.asarray(sp, dtype=float)
        return out


#: file name of each model format (a blend's members are ``member<i>`` + the extension)
_EXTENSIONS = {"xgboost_json": ".json", "forest_npz": ".forest.npz", "skops": ".skops"}


def _save_model(est: Any, out: Path, stem: str) -> str:
    """Write one fitted model as ``<stem><ext>`` in its safe format; returns the format."""
    if type(est).__module__.startswith("xgboost"):
        est.save_model(out / f"{stem}.json")
        return "xgboost_json"
    if _is_sklearn_forest(est):
        compact.save_forest(est, out / f"{stem}.forest.npz")
        return "forest_npz"
    if isinstance(est, (compact.TreeEnsemble, compact.Blend)):
        raise AlloyMLError("a loaded compact model cannot be saved again: save the fitted one")
    import skops.io as sio

    sio.dump(est, out / f"{stem}.skops")
    return "skops"


def _load_model(path: Path, fmt: str) -> Any:
    if fmt == "xgboost_json":
        est = compact.from_xgboost_json(path)
        if est is None:  # a model the numpy evaluator does not cover
            from xgboost import XGBRegressor

            est = XGBRegressor()
            est.load_model(path)
        return est
    if fmt == "forest_npz":
        return compact.load_forest(path)
    return _load_skops(path)


def save_bundle(bundle: Bundle, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in (*MODEL_FILES, *(p.name for p in out.glob("member*.*"))):
        (out / old).unlink(missing_ok=True)
    est = bundle.estimator
    imputer = None
    if hasattr(est, "imputer_") and hasattr(est, "estimator_"):  # ImputedRegressor
        imputer, est = est.imputer_, est.estimator_
    extra: dict[str, Any] = {}
    if type(est).__name__ == "VotingRegressor" and type(est).__module__.startswith("sklearn"):
        if getattr(est, "weights", None) is not None:
            raise AlloyMLError("only unweighted blends are saved (weights=None)")
        members = []
        for i, (name, member) in enumerate(
            zip(est.named_estimators_, est.estimators_, strict=True)
        ):
            fmt = _save_model(member, out, f"member{i}")
            members.append({"family": name, "format": fmt, "file": f"member{i}{_EXTENSIONS[fmt]}"})
        kind, extra = "blend", {"members": members}
    else:
        kind = _save_model(est, out, "model")
    iv, dm = bundle.interval, bundle.domain
    arrays: dict[str, np.ndarray] = {
        "q": np.array([iv.q_]),
        "q_out": np.array([getattr(iv, "q_out_", iv.q_)]),
        "frontier": np.array([getattr(iv, "frontier_", np.inf)]),
        "q_frontier": np.array([getattr(iv, "q_frontier_", 0.0)]),
        "domain_support_keys": dm.support_keys_,
        "domain_support_counts": dm.support_counts_,
        "domain_min_support": np.array([dm.min_support]),
        "domain_support_groups": _pack_groups(dm.support_groups),
        "alpha": np.array([iv.alpha]),
        "domain_mean": dm.mean_,
        "domain_scale": dm.scale_,
        "domain_train": dm.train_,
        "domain_threshold": np.array([dm.threshold_]),
        "domain_k": np.array([dm.k]),
        "domain_level": np.array([dm.level]),
    }
    if iv.scaler_ is not None:
        sc = iv.scaler_
        arrays |= {
            "scale_mean": sc.mean_,
            "scale_scale": sc.scale_,
            "scale_res": sc.res_,
            "scale_k": np.array([sc.k]),
            "scale_floor": np.array([sc.floor]),
        }
        scale_X = sc.nn_._fit_X  # standardised calibration rows
        if _same_rows(sc, dm, scale_X):  # train's final fit: stored once, as domain_train
            arrays["scale_X_is_domain_train"] = np.array([1])
        else:
            arrays["scale_X"] = scale_X
    if imputer is not None:
        arrays |= {
            "imputer_medians": imputer.medians_,
            "imputer_fitted_keys": imputer.fitted_keys_,
        }
    np.savez_compressed(out / "calibration.npz", **arrays)
    meta = dict(bundle.meta) | {"format": kind} | extra
    (out / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=float) + "\n")
    return out


def read_meta(path: str | Path) -> dict[str, Any]:
    """The metadata (``meta.json``) of the bundle in ``path``, without loading the model."""
    d = Path(path)
    meta_file = d / "meta.json"
    if not meta_file.is_file():
        raise AlloyMLError(f"no trained model in {d}: run `dvc repro` (train stage) first")
    return json.loads(meta_file.read_text())


def load_bundle(path: str | Path) -> Bundle:
    """Load a bundle written by :func:`save_bundle` without unpickling anything."""
    d = Path(path)
    meta = read_meta(d)
    meta_file = d / "meta.json"
    fmt = meta.get("format")
    if fmt == "skops" or (fmt is None and (d / "model.skops").is_file()):
        est = _load_skops(d / "model.skops")
    elif fmt in _EXTENSIONS:
        est = _load_model(d / f"model{_EXTENSIONS[fmt]}", fmt)
    elif fmt == "blend":
        members = meta.get("members") or []
        bad = [m for m in members if m.get("format") not in _EXTENSIONS
               or m.get("file") != Path(str(m.get("file"))).name]  # fmt: skip
        if not members or bad:
            raise AlloyMLError(f"{meta_file}: a blend with unreadable members {bad or members}")
        est = compact.Blend([_load_model(d / m["file"], m["format"]) for m in members])
    else:
        raise AlloyMLError(f"{meta_file}: unknown model format {fmt!r}; retrain (dvc repro)")
    with np.load(d / "calibration.npz", allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    dm = Domain(k=int(a["domain_k"][0]), level=float(a["domain_level"][0]))
    dm.mean_, dm.scale_, dm.train_ = a["domain_mean"], a["domain_scale"], a["domain_train"]
    dm.threshold_ = float(a["domain_threshold"][0])
    if "domain_support_keys" in a:
        dm.support_groups = _unpack_groups(a["domain_support_groups"])
        dm.min_support = int(a["domain_min_support"][0])
        dm.support_keys_, dm.support_counts_ = a["domain_support_keys"], a["domain_support_counts"]
    else:  # bundles written before the process-key support existed
        dm.support_keys_ = np.array([-1])
        dm.support_counts_ = np.array([len(dm.train_)])
    iv = ConformalInterval(alpha=float(a["alpha"][0]), normalised="scale_res" in a)
    iv.q_ = float(a["q"][0])
    iv.q_out_ = float(a["q_out"][0]) if "q_out" in a else iv.q_
    if "frontier" in a:  # bundles written before the frontier calibration have none
        iv.frontier_, iv.q_frontier_ = float(a["frontier"][0]), float(a["q_frontier"][0])
    iv.scaler_ = None
    dm_k = min(dm.k, len(dm.train_))
    if "scale_res" in a:
        sc = ConformalScale(k=int(a["scale_k"][0]), floor=float(a["scale_floor"][0]))
        sc.mean_, sc.scale_, sc.res_ = a["scale_mean"], a["scale_scale"], a["scale_res"]
        sc.global_ = float(np.mean(sc.res_)) or 1.0
        sc_k = min(sc.k, len(sc.res_))
        if "scale_X" not in a and "scale_X_is_domain_train" not in a:
            raise AlloyMLError(f"{d / 'calibration.npz'}: the interval scale has no rows")
        if "scale_X" not in a or _same_rows(sc, dm, a["scale_X"]):
            # the final fit calibrates both on the same rows: one neighbour search serves both
            dm.nn_ = sc.nn_ = compact.Neighbours(dm.train_, dm_k, keep=max(dm_k, sc_k))
        else:
            sc.nn_ = compact.Neighbours(a["scale_X"], sc_k)
        iv.scaler_ = sc
    if getattr(dm, "nn_", None) is None:
        dm.nn_ = compact.Neighbours(dm.train_, dm_k)
    if "imputer_medians" in a:
        imp = compact.ScheduleFill(
            tuple(meta["features"]), a["imputer_medians"], a["imputer_fitted_keys"]
        )
        est = compact.Imputed(est, imp)
    return Bundle(estimator=est, interval=iv, domain=dm, meta=meta)


def _same_rows(sc: ConformalScale, dm: Domain, scale_X: np.ndarray) -> bool:
    """Whether the interval scale's standardised rows are the domain model's."""
    return (
        np.array_equal(sc.mean_, dm.mean_)
        and np.array_equal(sc.scale_, dm.scale_)
        and np.array_equal(scale_X, dm.train_)
    )


def _is_sklearn_forest(est: Any) -> bool:
    """A fitted single-output scikit-learn random or extra-trees forest regressor."""
    return (
        type(est).__module__.startswith("sklearn.ensemble")
        and type(est).__name__ in ("RandomForestRegressor", "ExtraTreesRegressor")
        and getattr(est, "n_outputs_", 1) == 1
    )


def _load_skops(path: Path) -> Any:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    bad = [t for t in untrusted if t not in _TRUSTED_TYPES]
    if bad:
        raise AlloyMLError(f"{path} holds types alloyml does not trust: {bad}")
    return sio.load(path, trusted=untrusted)


def _pack_groups(groups: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """Column groups as one int array: ``[n_groups, len_1, ..., len_n, cols...]``."""
    flat = [len(groups), *(len(g) for g in groups)]
    for g in groups:
        flat += list(g)
    return np.array(flat, dtype=np.int64)


def _unpack_groups(packed: np.ndarray) -> tuple[tuple[int, ...], ...]:
    n = int(packed[0])
    lens = [int(v) for v in packed[1 : 1 + n]]
    out, pos = [], 1 + n
    for ln in lens:
        out.append(tuple(int(v) for v in packed[pos : pos + ln]))
        pos += ln
    return tuple(out)
