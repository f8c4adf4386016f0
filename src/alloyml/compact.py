"""Prediction without scikit-learn or XGBoost: tree ensembles as arrays, brute-force k-NN.

``alloyml predict`` must answer in well under two seconds, and importing scikit-learn alone takes
about a second (XGBoost imports it too). What a bundle needs at prediction time is small: walk
the trees of a forest or a boosted ensemble, and find the nearest training rows. This module does
both with numpy only, and gives the same numbers as the libraries:

* :class:`TreeEnsemble` — every tree of an ensemble in flat node arrays, evaluated for all rows
  and all trees at once. From a fitted scikit-learn forest (:func:`from_sklearn_forest`; the
  comparison ``x <= t`` on float32 inputs, tree outputs summed in tree order then averaged, as
  scikit-learn does with one job) or from XGBoost's own JSON model file
  (:func:`from_xgboost_json`; ``x < t`` on float32 inputs, missing values to the default side,
  float32 leaf values summed in tree order onto the base score, as XGBoost's CPU predictor does).
* The forest file format (:func:`save_forest` / :func:`load_forest`): a compressed ``.npz`` of
  plain numeric arrays (loaded with ``allow_pickle=False``), nodes in pre-order so the left child
  of a node is the next node and only the size of its left subtree is stored. Thresholds are
  stored as float32 rounded *down*: for every float32 input ``x``, ``x <= t`` and
  ``x <= float32_down(t)`` agree, so predictions are unchanged (scikit-learn compares float32
  inputs with float64 thresholds).
* :class:`Neighbours` — exact brute-force k nearest neighbours (Euclidean), the
  :class:`sklearn.neighbors.NearestNeighbors` ``kneighbors`` call the domain model and the
  interval scale make. Distances of the neighbours found are recomputed directly, so they agree
  with scikit-learn's to rounding (about 1e-15 relative).
* :func:`schedule_columns` / :func:`fill_schedule` — the schedule imputation of
  :class:`alloyml.models.ScheduleImputer`, which uses the same functions.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from alloyml.errors import AlloyMLError

#: version of the forest ``.npz`` layout (``format_version`` array in the file)
FOREST_FORMAT_VERSION = 1


class TreeEnsemble:
    """Trees in flat node arrays; ``predict(X)`` walks all rows through all trees at once.

    Leaves point to themselves (``left == right == node``), so a fixed number of steps (the
    depth of the deepest tree) brings every row to its leaf.

    Args:
        left, right: child node ids (global over all trees); a leaf's are its own id.
        feature: column tested at each node (0 at leaves).
        threshold: split value, float32.
        value: leaf output (float64 for forests, float32 for XGBoost), 0 at internal nodes.
        default_left: where a missing (NaN) input goes; None = NaN compares false (goes right).
        roots: root node id of each tree.
        depth: steps from the root to the deepest leaf.
        op: ``"le"`` (go left when ``x <= t``, scikit-learn) or ``"lt"`` (``x < t``, XGBoost).
        aggregate: ``"mean"`` (float64 sum over trees / number of trees) or ``"sum"`` (float32
            sum onto ``base_score``).
        base_score: added before the trees' outputs (``"sum"`` only).
        n_features: columns of the input.
    """

    def __init__(
        self,
        left: np.ndarray,
        right: np.ndarray,
        feature: np.ndarray,
        threshold: np.ndarray,
        value: np.ndarray,
        roots: np.ndarray,
        depth: int,
        op: str,
        aggregate: str,
        n_features: int,
        default_left: np.ndarray | None = None,
        base_score: float = 0.0,
    ) -> None:
        if op not in ("le", "lt") or aggregate not in ("mean", "sum"):
            raise ValueError(f"unknown comparison {op!r} or aggregation {aggregate!r}")
        self.left = np.asarray(left, dtype=np.int32)
        self.right = np.asarray(right, dtype=np.int32)
        self.feature = np.asarray(feature, dtype=np.int32)
        self.threshold = np.asarray(threshold, dtype=np.float32)
        self.value = np.asarray(value)
        self.roots = np.asarray(roots, dtype=np.int32)
        self.depth = int(depth)
        self.op = op
        self.aggregate = aggregate
        self.n_features = int(n_features)
        self.default_left = None if default_left is None else np.asarray(default_left, dtype=bool)
        self.base_score = base_score
        self.n_jobs = 1  # the walk is single-threaded numpy; kept for callers that set n_jobs

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    @property
    def n_nodes(self) -> int:
        return len(self.left)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The scikit-learn-style parameter the search sets (``n_jobs``); predictions do not
        depend on it."""
        return {"n_jobs": self.n_jobs}

    def set_params(self, **params: Any) -> TreeEnsemble:
        self.n_jobs = int(params.get("n_jobs", self.n_jobs))
        return self

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Leaf id reached by every row in every tree, shape ``(n_rows, n_trees)``."""
        X32 = np.asarray(X, dtype=np.float64).astype(np.float32)
        if X32.ndim != 2 or X32.shape[1] != self.n_features:
            raise AlloyMLError(
                f"the model expects {self.n_features} feature columns, got shape {X32.shape}"
            )
        n, t = X32.shape[0], self.n_trees
        node = np.broadcast_to(self.roots, (n, t)).reshape(-1).copy()
        row = np.repeat(np.arange(n, dtype=np.int64), t)
        active = np.arange(n * t)  # positions of (row, tree) pairs not yet at a leaf
        flat = X32.reshape(-1)
        nf = self.n_features
        for _ in range(self.depth):
            if not len(active):
                break
            nd = node[active]
            x = flat[row[active] * nf + self.feature[nd]]
            thr = self.threshold[nd]
            go_left = (x <= thr) if self.op == "le" else (x < thr)
            if self.default_left is not None:
                miss = np.isnan(x)
                if miss.any():
                    go_left = np.where(miss, self.default_left[nd], go_left)
            nxt = np.where(go_left, self.left[nd], self.right[nd])
            node[active] = nxt
            active = active[self.left[nxt] != nxt]
        return node.reshape(n, t)

    def predict(self, X: np.ndarray) -> np.ndarray:
        leaves = self.apply(X)
        vals = self.value[leaves]
        if self.aggregate == "mean":
            acc = np.zeros(len(leaves), dtype=np.float64)
            for j in range(self.n_trees):  # tree order, as scikit-learn accumulates
                acc += vals[:, j]
            acc /= self.n_trees
            return acc
        acc32 = np.full(len(leaves), self.base_score, dtype=np.float32)
        for j in range(self.n_trees):  # tree order, float32, as XGBoost's CPU predictor
            acc32 += vals[:, j]
        return acc32


# -- scikit-learn forests -------------------------------------------------------------------------


def _float32_down(t: np.ndarray) -> np.ndarray:
    """The largest float32 not above each float64 ``t`` (keeps ``x <= t`` for float32 ``x``)."""
    t32 = t.astype(np.float32)
    up = t32.astype(np.float64) > t
    t32[up] = np.nextafter(t32[up], np.float32(-np.inf))
    return t32


def _preorder(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Node ids of one tree in pre-order (node, left subtree, right subtree)."""
    out, stack = [], [0]
    lft, rgt = left.tolist(), right.tolist()
    while stack:
        i = stack.pop()
        out.append(i)
        if lft[i] >= 0:
            stack.append(rgt[i])
            stack.append(lft[i])
    return np.array(out, dtype=np.int64)


def forest_arrays(forest: Any) -> dict[str, np.ndarray]:
    """The file arrays of a fitted single-output scikit-learn forest regressor
    (``RandomForestRegressor``, ``ExtraTreesRegressor``) or a single ``DecisionTreeRegressor``.

    Per tree, nodes in pre-order: ``skip`` (size of the left subtree; 0 marks a leaf),
    ``feature`` and ``threshold`` of the internal nodes, ``value`` of the leaves.
    """
    trees = getattr(forest, "estimators_", None)
    trees = [forest] if trees is None else list(trees)
    n_features = int(forest.n_features_in_)
    skips, feats, thrs, vals, sizes, n_int = [], [], [], [], [], []
    for est in trees:
        tr = est.tree_
        if tr.n_outputs != 1 or tr.value.shape[2] != 1:
            raise AlloyMLError("only single-output regression trees can be stored compactly")
        left, right = tr.children_left.astype(np.int64), tr.children_right.astype(np.int64)
        order = _preorder(left, right)
        pos = np.empty(len(order), dtype=np.int64)
        pos[order] = np.arange(len(order))
        leaf = left[order] < 0
        # in pre-order the right child comes after the whole left subtree
        skip = np.where(leaf, 0, pos[np.where(leaf, 0, right[order])] - np.arange(len(order)) - 1)
        skips.append(skip)
        feats.append(tr.feature[order][~leaf])
        thrs.append(_float32_down(tr.threshold[order][~leaf]))
        vals.append(tr.value[order, 0, 0][leaf])
        sizes.append(len(order))
        n_int.append(int((~leaf).sum()))
    skip_all = np.concatenate(skips)
    feat_all = np.concatenate(feats)
    return {
        "format_version": np.array([FOREST_FORMAT_VERSION], dtype=np.int64),
        "n_features": np.array([n_features], dtype=np.int64),
        "tree_nodes": np.array(sizes, dtype=np.int64),
        "skip": skip_all.astype(np.uint16 if skip_all.max(initial=0) < 2**16 else np.uint32),
        "feature": feat_all.astype(np.uint16 if n_features < 2**16 else np.uint32),
        "threshold": np.concatenate(thrs).astype(np.float32),
        "value": np.concatenate(vals).astype(np.float64),
    }


def forest_from_arrays(a: dict[str, np.ndarray]) -> TreeEnsemble:
    """Rebuild the :class:`TreeEnsemble` of :func:`forest_arrays` (numpy only)."""
    if int(a["format_version"][0]) != FOREST_FORMAT_VERSION:
        raise AlloyMLError(
            f"forest format version {int(a['format_version'][0])} is not "
            f"{FOREST_FORMAT_VERSION}: retrain the models (dvc repro)"
        )
    sizes = a["tree_nodes"].astype(np.int64)
    skip = a["skip"].astype(np.int64)
    n = int(sizes.sum())
    leaf = skip == 0
    if len(skip) != n or int((~leaf).sum()) != len(a["feature"]) or int(leaf.sum()) != len(
        a["value"]
    ):
        raise AlloyMLError("forest file is inconsistent (node counts differ)")
    ids = np.arange(n, dtype=np.int64)
    left = np.where(leaf, ids, ids + 1)
    right = np.where(leaf, ids, ids + 1 + skip)
    roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    tree_of = np.repeat(np.arange(len(sizes)), sizes)
    if np.any(right >= (roots + sizes)[tree_of]):
        raise AlloyMLError("forest file is inconsistent (a child outside its tree)")
    feature = np.zeros(n, dtype=np.int32)
    feature[~leaf] = a["feature"]
    n_features = int(a["n_features"][0])
    if len(a["feature"]) and int(a["feature"].max()) >= n_features:
        raise AlloyMLError("forest file is inconsistent (feature index out of range)")
    threshold = np.zeros(n, dtype=np.float32)
    threshold[~leaf] = a["threshold"]
    value = np.zeros(n, dtype=np.float64)
    value[leaf] = a["value"]
    return TreeEnsemble(
        left, right, feature, threshold, value, roots,
        depth=_max_depth(left, right, roots), op="le", aggregate="mean", n_features=n_features,
    )  # fmt: skip


def _max_depth(left: np.ndarray, right: np.ndarray, roots: np.ndarray) -> int:
    """Steps from a root to the deepest leaf, over all trees (vectorised level by level)."""
    level, depth = roots.astype(np.int64), 0
    while True:
        level = level[left[level] != level]
        if not len(level):
            return depth
        level = np.concatenate([left[level], right[level]])
        depth += 1


def save_forest(forest: Any, path: str | Path) -> Path:
    """Write a fitted scikit-learn forest in the compact format (compressed ``.npz``)."""
    path = Path(path)
    np.savez_compressed(path, **forest_arrays(forest))
    return path


def load_forest(path: str | Path) -> TreeEnsemble:
    """Read :func:`save_forest`'s file without unpickling anything."""
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise AlloyMLError(f"cannot read the model file {path}: {exc}") from None
    missing = {"format_version", "n_features", "tree_nodes", "skip", "feature", "threshold",
               "value"} - set(a)  # fmt: skip
    if missing:
        raise AlloyMLError(f"{path} is not an alloyml forest file (no {sorted(missing)})")
    return forest_from_arrays(a)


# -- XGBoost ----------------------------------------------------------------------------------------


def from_xgboost_json(path: str | Path) -> TreeEnsemble | None:
    """A :class:`TreeEnsemble` equal to the XGBoost regressor saved in ``path`` (XGBoost's JSON).

    Returns None for what this evaluator does not cover (another objective than squared error,
    several targets, dart or linear boosters, categorical splits, a best iteration from early
    stopping): the caller then loads the file with XGBoost itself.
    """
    doc = json.loads(Path(path).read_text())
    try:
        learner = doc["learner"]
        param = learner["learner_model_param"]
        booster = learner["gradient_booster"]
        if booster["name"] != "gbtree" or learner["objective"]["name"] != "reg:squarederror":
            return None
        if int(param.get("num_target", "1")) != 1 or int(param.get("num_class", "0")) != 0:
            return None
        if "best_iteration" in learner.get("attributes", {}):
            return None
        model = booster["model"]
        if int(model["gbtree_model_param"].get("num_parallel_tree", "1")) != 1:
            return None
        trees = model["trees"]
        base = float(str(param["base_score"]).strip("[]"))
        n_features = int(param["num_feature"])
    except (KeyError, TypeError, ValueError) as exc:
        raise AlloyMLError(f"{path}: not an XGBoost JSON model ({exc})") from None
    lefts, rights, feats, thrs, dls, roots, offset = [], [], [], [], [], [], 0
    for t in trees:
        if any(t.get("split_type", [])) or t.get("categories"):
            return None
        left = np.asarray(t["left_children"], dtype=np.int64)
        right = np.asarray(t["right_children"], dtype=np.int64)
        ids = np.arange(len(left))
        leaf = left < 0
        lefts.append(np.where(leaf, ids, left) + offset)
        rights.append(np.where(leaf, ids, right) + offset)
        feats.append(np.where(leaf, 0, np.asarray(t["split_indices"], dtype=np.int64)))
        thrs.append(np.asarray(t["split_conditions"], dtype=np.float32))  # leaf value at leaves
        dls.append(np.asarray(t["default_left"], dtype=bool))
        roots.append(offset)
        offset += len(left)
    left, right = np.concatenate(lefts), np.concatenate(rights)
    thr = np.concatenate(thrs)
    leaf = left == np.arange(offset)
    roots_arr = np.asarray(roots, dtype=np.int64)
    return TreeEnsemble(
        left, right, np.concatenate(feats), np.where(leaf, np.float32(0), thr),
        np.where(leaf, thr, np.float32(0)).astype(np.float32), roots_arr,
        depth=_max_depth(left, right, roots_arr), op="lt", aggregate="sum",
        n_features=n_features, default_left=np.concatenate(dls), base_score=base,
    )  # fmt: skip


# -- k nearest neighbours ---------------------------------------------------------------------------


class Neighbours:
    """Exact Euclidean k nearest neighbours by brute force (numpy), ``kneighbors`` as in
    scikit-learn: distances ascending, ties by lower training index.

    Candidates are found with the expansion ``|z|^2 - 2 z.x + |x|^2`` (one matrix product per
    chunk of queries); their distances are then recomputed as ``sqrt(sum((z - x)^2))``, and a
    candidate set is widened whenever rounding could have changed which rows are the nearest.

    Args:
        X: training rows.
        n_neighbors: default k.
        keep: the largest k asked for; a query repeated with the same rows (the domain model
            and the interval scale of a bundle share one training matrix) is answered from the
            last result.
    """

    CHUNK = 256
    #: candidates beyond k whose distances are computed exactly
    EXTRA = 8

    def __init__(self, X: np.ndarray, n_neighbors: int = 5, keep: int | None = None) -> None:
        self._fit_X = np.ascontiguousarray(X, dtype=np.float64)
        self.n_neighbors = int(n_neighbors)
        self.keep = max(int(keep or 0), self.n_neighbors)
        self._sq = np.einsum("ij,ij->i", self._fit_X, self._fit_X)
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def n_samples_fit_(self) -> int:
        return len(self._fit_X)

    def kneighbors(
        self, Z: np.ndarray, n_neighbors: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        k = self.n_neighbors if n_neighbors is None else int(n_neighbors)
        n_fit = len(self._fit_X)
        if not 0 < k <= n_fit:
            raise ValueError(f"n_neighbors={k} must be within 1..{n_fit}")
        Z = np.asarray(Z, dtype=np.float64)
        last = self._last
        if last is not None and last[1].shape[1] >= k and np.array_equal(last[0], Z):
            return last[1][:, :k], last[2][:, :k]
        kk = min(max(k, self.keep), n_fit)
        dist = np.empty((len(Z), kk))
        idx = np.empty((len(Z), kk), dtype=np.int64)
        for s in range(0, len(Z), self.CHUNK):
            dist[s : s + self.CHUNK], idx[s : s + self.CHUNK] = self._chunk(Z[s : s + self.CHUNK], kk)
        self._last = (Z.copy(), dist, idx)
        return dist[:, :k], idx[:, :k]

    def _chunk(self, Z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        X, n_fit = self._fit_X, len(self._fit_X)
        sq_z = np.einsum("ij,ij->i", Z, Z)
        d2 = sq_z[:, None] - 2.0 * (Z @ X.T) + self._sq[None, :]
        # rounding of the expansion is a few ulps of the squared norms: a training row within
        # this margin of the k-th exact distance may be a true neighbour
        margin = 1e-9 * (sq_z + self._sq.max()) + 1e-12
        kc = min(k + self.EXTRA, n_fit)
        if kc < n_fit:
            part = np.argpartition(d2, kc, axis=1)
            cand, nxt = part[:, :kc], np.take_along_axis(d2, part[:, kc : kc + 1], axis=1)[:, 0]
        else:
            cand, nxt = np.broadcast_to(np.arange(n_fit), (len(Z), n_fit)), np.full(len(Z), np.inf)
        diff = X[cand] - Z[:, None, :]
        dc = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
        order = np.lexsort((cand, dc), axis=1)[:, :k]  # by distance, then by training index
        dist, idx = np.take_along_axis(dc, order, axis=1), np.take_along_axis(cand, order, axis=1)
        # the k-th distance must be clearly below every row left out, else check all rows
        for i in np.flatnonzero(dist[:, -1] ** 2 + margin >= nxt - margin):
            c = np.flatnonzero(d2[i] <= dist[i, -1] ** 2 + 2 * margin[i])
            c = np.union1d(c, idx[i])
            dfull = X[c] - Z[i]
            dd = np.sqrt(np.einsum("ij,ij->i", dfull, dfull))
            o = np.lexsort((c, dd))[:k]
            dist[i], idx[i] = dd[o], c[o]
        return dist, idx


# -- schedule imputation (shared with alloyml.models.ScheduleImputer) -------------------------------


def schedule_columns(feature_names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Columns of the schedule imputation: temper-class one-hot, stage features,
    ``proc_schedule_known``, ``proc_stages_implied``."""
    names = list(feature_names)
    keys = [j for j, f in enumerate(names) if f.startswith("proc_temper_")]
    stage = [
        j
        for j, f in enumerate(names)
        if f.startswith(("proc_has_", "proc_homog", "proc_sol", "proc_age"))
        or f in ("proc_n_sol_stages", "proc_n_age_stages")
    ]
    return (
        np.array(keys),
        np.array(stage),
        names.index("proc_schedule_known"),
        names.index("proc_stages_implied"),
    )


def fill_schedule(
    X: np.ndarray,
    columns: tuple[np.ndarray, np.ndarray, int, int],
    medians: np.ndarray,
    fitted_keys: np.ndarray,
) -> np.ndarray:
    """A copy of ``X`` with the stage features of rows whose state implies stages but whose
    schedule is unknown set to the medians of their temper class (see ``ScheduleImputer``)."""
    X = np.array(X, dtype=float, copy=True)
    keys, stage, known, implied = columns
    key = X[:, keys].argmax(axis=1)
    has_key = X[:, keys].max(axis=1) > 0
    fill = has_key & (X[:, known] == 0) & (X[:, implied] > 0) & fitted_keys[key]
    if fill.any():
        X[np.ix_(fill, stage)] = medians[key[fill]]
    return X


class ScheduleFill:
    """The fitted schedule imputation at prediction time (``medians_``, ``fitted_keys_``)."""

    def __init__(
        self, feature_names: tuple[str, ...], medians: np.ndarray, fitted_keys: np.ndarray
    ) -> None:
        self.feature_names = tuple(feature_names)
        self.medians_ = medians
        self.fitted_keys_ = np.asarray(fitted_keys, dtype=bool)
        self._columns = schedule_columns(self.feature_names)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return fill_schedule(X, self._columns, self.medians_, self.fitted_keys_)


class Imputed:
    """A predictor behind a :class:`ScheduleFill` (``imputer_``, ``estimator_`` as in
    :class:`alloyml.models.ImputedRegressor`)."""

    def __init__(self, estimator: Any, imputer: ScheduleFill) -> None:
        self.estimator_ = estimator
        self.imputer_ = imputer

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"n_jobs": getattr(self.estimator_, "n_jobs", 1)}

    def set_params(self, **params: Any) -> Imputed:
        if hasattr(self.estimator_, "set_params"):
            self.estimator_.set_params(**params)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.estimator_.predict(self.imputer_.transform(X))
