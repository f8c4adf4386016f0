"""Prediction without scikit-learn or XGBoost: tree ensembles as arrays, brute-force k-NN.

``alloyml predict`` must answer in well under two seconds, and importing scikit-learn alone takes
about a second (XGBoost imports it too). What a bundle needs at prediction time is small: walk
the trees of a forest or a boosted ensemble, and find the nearest training rows. This module does
both with numpy only, and gives the same numbers as the libraries:

* :class:`TreeEnsemble` — every tree of an ensemble in flat node arrays, evaluated for all rows
  and all trees at once. From a fitted scikit-learn forest (:func:`save_forest`,
  :func:`load_forest`: ``x <= t`` on float32 inputs, a NaN to the side scikit-learn records
  per split, tree outputs summed in tree order then averaged, as scikit-learn does with one
  job) or from XGBoost's own JSON model file (:func:`from_xgboost_json`: ``x < t`` on float32
  inputs, a NaN to the split's default side, float32 leaf values summed in tree order onto the
  base score, as XGBoost's CPU predictor does). Point predictions are the libraries' bit for bit.
* The forest file format: a compressed ``.npz`` of plain numeric arrays (loaded with
  ``allow_pickle=False``), nodes in pre-order so the left child of a node is the next node and
  only the size of its left subtree is stored. Thresholds are stored as float32 rounded *down*:
  for every float32 input ``x``, ``x <= t`` and ``x <= float32_down(t)`` agree, so predictions
  are unchanged (scikit-learn compares float32 inputs with float64 thresholds). An extra-trees
  forest of 100 trees on 3,000 Al rows (520,000 nodes) takes 1.8 MB, against 38 MB in skops.
* :class:`Neighbours` — exact brute-force k nearest neighbours (Euclidean), the
  :class:`sklearn.neighbors.NearestNeighbors` ``kneighbors`` call of the domain model and the
  interval scale. Distances are computed from the differences, scikit-learn's from the
  expansion ``|z|^2 - 2 z.x + |x|^2``: they agree to scikit-learn's rounding. Between training
  rows at exactly the same distance (duplicated rows) the lower index is taken; scikit-learn's
  choice there follows its rounding, so the interval scale of a row whose k-th neighbours are
  duplicates with different residuals can differ from scikit-learn's.
* :func:`schedule_columns` / :func:`fill_schedule` — the schedule imputation of
  :class:`alloyml.modeling.models.ScheduleImputer`, which uses the same functions.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from alloyml.errors import AlloyMLError

#: version of the forest ``.npz`` layout (``format_version`` array in the file)
FOREST_FORMAT_VERSION = 1


class TreeEnsemble:
    """Trees in flat node arrays, nodes in pre-order; ``predict(X)`` walks all rows through all
    trees at once.

    In pre-order the left child of an internal node is the next node, so only ``right`` is
    stored. Every split is ``x <= threshold`` on float32 inputs (XGBoost's ``x < t`` is
    ``x <= `` the float32 just below ``t``). A leaf has threshold ``-inf`` and ``right`` pointing
    to itself, so a fixed number of steps (the depth of the deepest tree) brings every row to
    its leaf, and rows already there stay.

    Args:
        right: right child of each node (global id over all trees); a leaf's is its own id.
        feature: column tested at each node (0 at leaves).
        threshold: float32 split value (``-inf`` at leaves).
        value: leaf output (float64 for forests, float32 for XGBoost), 0 at internal nodes.
        roots: root node id of each tree.
        aggregate: ``"mean"`` (float64 sum over trees in tree order / number of trees, as
            scikit-learn's forests) or ``"sum"`` (float32 sum in tree order onto ``base_score``,
            as XGBoost's CPU predictor).
        n_features: columns of the input.
        default_left: where a missing (NaN) input goes; None: NaN compares false (goes right).
        base_score: added before the trees' outputs (``"sum"`` only).
    """

    def __init__(
        self,
        right: np.ndarray,
        feature: np.ndarray,
        threshold: np.ndarray,
        value: np.ndarray,
        roots: np.ndarray,
        aggregate: str,
        n_features: int,
        default_left: np.ndarray | None = None,
        base_score: float = 0.0,
    ) -> None:
        if aggregate not in ("mean", "sum"):
            raise ValueError(f"unknown aggregation {aggregate!r}")
        self.right = np.asarray(right, dtype=np.int32)
        self.feature = np.asarray(feature, dtype=np.int32)
        self.threshold = np.asarray(threshold, dtype=np.float32)
        self.value = np.asarray(value)
        self.roots = np.asarray(roots, dtype=np.int32)
        self.leaf = self.right == np.arange(len(self.right), dtype=np.int32)
        self.threshold[self.leaf] = -np.inf
        self.aggregate = aggregate
        self.n_features = int(n_features)
        self.default_left = None
        if default_left is not None and np.any(default_left):
            self.default_left = np.asarray(default_left, dtype=bool) & ~self.leaf
        self.base_score = base_score
        self.depth = _max_depth(self.right, self.leaf, self.roots)
        self.n_jobs = 1  # the walk is single-threaded numpy; kept for callers that set n_jobs

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    @property
    def n_nodes(self) -> int:
        return len(self.right)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The scikit-learn-style parameter the search sets (``n_jobs``); predictions do not
        depend on it."""
        return {"n_jobs": self.n_jobs}

    def set_params(self, **params: Any) -> TreeEnsemble:
        self.n_jobs = int(params.get("n_jobs", self.n_jobs))
        return self

    #: rows x trees walked per block (bounds the memory of a large batch)
    BLOCK = 1 << 20
    #: drop the (row, tree) pairs that reached their leaf every this many steps
    COMPACT_EVERY = 6

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Leaf id reached by every row in every tree, shape ``(n_trees, n_rows)``."""
        X32 = np.asarray(X, dtype=np.float64).astype(np.float32)
        if X32.ndim != 2 or X32.shape[1] != self.n_features:
            raise AlloyMLError(
                f"the model expects {self.n_features} feature columns, got shape {X32.shape}"
            )
        n, t = X32.shape[0], self.n_trees
        out = np.empty((t, n), dtype=np.int32)
        rows = max(1, self.BLOCK // max(t, 1))
        missing = self.default_left is not None and bool(np.isnan(X32).any())
        for s in range(0, n, rows):
            out[:, s : s + rows] = self._walk(X32[s : s + rows], missing)
        return out

    def _walk(self, X32: np.ndarray, missing: bool) -> np.ndarray:
        n, t, nf = X32.shape[0], self.n_trees, self.n_features
        # feature-major input: the rows of one tree read one column at the root, few below
        flat = np.ascontiguousarray(X32.T).reshape(-1)
        ix = np.int32 if n * nf < 2**31 and n * t < 2**31 else np.int64
        col = self.feature.astype(ix) * ix(n)  # where each node's column starts in ``flat``
        node = np.repeat(self.roots.astype(ix), n)  # tree-major: pair p = (tree p // n, row p % n)
        row = np.tile(np.arange(n, dtype=ix), t)
        threshold, right = self.threshold, self.right.astype(ix, copy=False)
        active = None  # None: every pair
        cur = node
        for step in range(self.depth):
            x = flat[col[cur] + row]
            go_left = x <= threshold[cur]
            if missing:
                go_left |= np.isnan(x) & self.default_left[cur]
            cur = np.where(go_left, cur + 1, right[cur])
            if (step + 1) % self.COMPACT_EVERY == 0 and step + 1 < self.depth:
                keep = ~self.leaf[cur]
                if active is None:
                    node, active = cur, np.flatnonzero(keep)
                else:
                    node[active] = cur
                    active = active[keep]
                cur, row = cur[keep], row[keep]
                if not len(cur):
                    break
        if active is None:
            node = cur
        else:
            node[active] = cur
        return node.reshape(t, n)

    def predict_with_spread(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Point predictions and, for a forest (``"mean"``), the standard deviation of its trees'
        predictions (None for boosting: its trees are terms of one sum, not a sample), from one
        walk of the trees."""
        vals = self.value[self.apply(X)]
        spread = vals.std(axis=0) if self.aggregate == "mean" else None
        return self._aggregate(vals), spread

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._aggregate(self.value[self.apply(X)])

    def _aggregate(self, vals: np.ndarray) -> np.ndarray:
        """Leaf values ``(n_trees, n_rows)`` to predictions, in the library's order."""
        if self.aggregate == "mean":
            acc = np.zeros(vals.shape[1], dtype=np.float64)
            for j in range(self.n_trees):  # tree order, as scikit-learn accumulates
                acc += vals[j]
            acc /= self.n_trees
            return acc
        acc32 = np.full(vals.shape[1], self.base_score, dtype=np.float32)
        for j in range(self.n_trees):  # tree order, float32, as XGBoost's CPU predictor
            acc32 += vals[j]
        return acc32


def _max_depth(right: np.ndarray, leaf: np.ndarray, roots: np.ndarray) -> int:
    """Steps from a root to the deepest leaf, over all trees (level by level)."""
    level, depth = roots.astype(np.int64), 0
    while True:
        level = level[~leaf[level]]
        if not len(level):
            return depth
        level = np.concatenate([level + 1, right[level].astype(np.int64)])
        depth += 1


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
    ``feature``, ``threshold`` and ``missing_left`` (bit-packed: where scikit-learn sends a NaN)
    of the internal nodes, ``value`` of the leaves.
    """
    trees = getattr(forest, "estimators_", None)
    trees = [forest] if trees is None else list(trees)
    n_features = int(forest.n_features_in_)
    skips, feats, thrs, vals, sizes, miss = [], [], [], [], [], []
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
        miss.append(np.asarray(tr.missing_go_to_left, dtype=bool)[order][~leaf])
        sizes.append(len(order))
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
        # where a missing (NaN) input goes at each internal node, as scikit-learn sends it
        "missing_left": np.packbits(np.concatenate(miss)),
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
    if (
        len(skip) != n
        or int((~leaf).sum()) != len(a["feature"])
        or int(leaf.sum()) != len(a["value"])
    ):
        raise AlloyMLError("forest file is inconsistent (node counts differ)")
    ids = np.arange(n, dtype=np.int64)
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
    missing_left = np.zeros(n, dtype=bool)
    if "missing_left" in a:
        missing_left[~leaf] = np.unpackbits(a["missing_left"], count=int((~leaf).sum())) > 0
    return TreeEnsemble(
        right, feature, threshold, value, roots, "mean", n_features, default_left=missing_left
    )


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
    rights, feats, thrs, vals, dls, roots, offset = [], [], [], [], [], [], 0
    for t in trees:
        if any(t.get("split_type", [])) or t.get("categories"):
            return None
        left = np.asarray(t["left_children"], dtype=np.int64)
        right = np.asarray(t["right_children"], dtype=np.int64)
        order = _preorder(left, right)
        pos = np.empty(len(order), dtype=np.int64)
        pos[order] = np.arange(len(order))
        leaf = left[order] < 0
        ids = np.arange(len(order))
        rights.append(np.where(leaf, ids, pos[np.where(leaf, 0, right[order])]) + offset)
        feats.append(np.where(leaf, 0, np.asarray(t["split_indices"], dtype=np.int64)[order]))
        cond = np.asarray(t["split_conditions"], dtype=np.float32)[order]  # leaf value at leaves
        # x < t on float32 inputs is x <= (the float32 just below t)
        thrs.append(np.where(leaf, np.float32(0), np.nextafter(cond, np.float32(-np.inf))))
        vals.append(np.where(leaf, cond, np.float32(0)))
        dls.append(np.asarray(t["default_left"], dtype=bool)[order])
        roots.append(offset)
        offset += len(order)
    return TreeEnsemble(
        np.concatenate(rights), np.concatenate(feats), np.concatenate(thrs),
        np.concatenate(vals).astype(np.float32), np.asarray(roots), "sum", n_features,
        default_left=np.concatenate(dls), base_score=base,
    )  # fmt: skip


# -- k nearest neighbours ---------------------------------------------------------------------------


class Neighbours:
    """Exact Euclidean k nearest neighbours by brute force (numpy), ``kneighbors`` as in
    scikit-learn: distances ascending, ties by lower training index.

    Screening: squared distances from the expansion ``|z|^2 - 2 z.x + |x|^2`` in float32 (one
    matrix product per chunk of queries) over the columns that vary in the training rows (a
    constant column adds the same amount to every distance of a query). Each screened value
    carries a rounding bound; the ``k + EXTRA`` best candidates get their distance recomputed
    in float64 from the differences, and a query whose left-out rows could, within the bound,
    still be as near as its k-th neighbour is answered from every such row instead. So the
    neighbours are the exact ones, whatever the rounding of the screening.

    Args:
        X: training rows.
        n_neighbors: default k.
        keep: the largest k asked for; a query repeated with the same rows (the domain model
            and the interval scale of a bundle share one training matrix) is answered from the
            last result.
    """

    CHUNK = 512
    #: queries per block of the exact distances (a block of differences stays in cache)
    SUB = 128
    #: candidates beyond k whose distances are computed exactly
    EXTRA = 8

    def __init__(self, X: np.ndarray, n_neighbors: int = 5, keep: int | None = None) -> None:
        self._fit_X = np.ascontiguousarray(X, dtype=np.float64)
        self.n_neighbors = int(n_neighbors)
        self.keep = max(int(keep or 0), self.n_neighbors)
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._screen: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float] | None = None

    @property
    def n_samples_fit_(self) -> int:
        return len(self._fit_X)

    def _prepare(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
        """Varying columns, constant columns, the varying part of the training rows, the
        float32 screening matrix ``[-2 x, |x|^2 (1 - 2 tol)]`` and ``tol``."""
        if self._screen is None:
            X = self._fit_X
            vary = np.flatnonzero(np.any(X != X[:1], axis=0))
            const = np.setdiff1d(np.arange(X.shape[1]), vary)
            Xv = np.ascontiguousarray(X[:, vary])
            # rounding bound of the float32 expansion: inputs rounded to float32, a dot product
            # of len(vary) + 1 terms (gamma_{d+1} <= (d + 1) 2^-23 for d 2^-24 < 1/2), 2^-22
            # for the rest; relative to |z|^2 + 2 |x|^2
            tol = (len(vary) + 1) * 2.0**-23 + 2.0**-22
            sq = np.einsum("ij,ij->i", Xv, Xv)
            screen = np.empty((len(Xv), len(vary) + 1), dtype=np.float32)
            screen[:, :-1] = -2.0 * Xv
            screen[:, -1] = sq * (1.0 - 2.0 * tol)
            self._screen = (vary, const, Xv, np.ascontiguousarray(screen.T), tol)
        return self._screen

    def kneighbors(
        self, Z: np.ndarray, n_neighbors: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        k = self.n_neighbors if n_neighbors is None else int(n_neighbors)
        n_fit = len(self._fit_X)
        if not 0 < k <= n_fit:
            raise ValueError(f"n_neighbors={k} must be within 1..{n_fit}")
        Z = np.asarray(Z, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[1] != self._fit_X.shape[1]:
            raise ValueError(f"expected {self._fit_X.shape[1]} columns, got shape {Z.shape}")
        last = self._last
        if last is not None and last[1].shape[1] >= k and np.array_equal(last[0], Z):
            return last[1][:, :k], last[2][:, :k]
        kk = min(max(k, self.keep), n_fit)
        dist = np.empty((len(Z), kk))
        idx = np.empty((len(Z), kk), dtype=np.int64)
        for s in range(0, len(Z), self.CHUNK):
            dist[s : s + self.CHUNK], idx[s : s + self.CHUNK] = self._chunk(
                Z[s : s + self.CHUNK], kk
            )
        self._last = (Z.copy(), dist, idx)
        return dist[:, :k], idx[:, :k]

    def _chunk(self, Z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        vary, const, Xv, screen_t, tol = self._prepare()
        n_fit, nq = len(Xv), len(Z)
        Zv = np.ascontiguousarray(Z[:, vary])
        dz = Z[:, const] - self._fit_X[0, const]
        base = np.einsum("ij,ij->i", dz, dz)  # the constant columns' share of every distance
        sq_z = np.einsum("ij,ij->i", Zv, Zv)
        za = np.ones((nq, len(vary) + 1), dtype=np.float32)
        za[:, :-1] = Zv
        # c + |z|^2 (1 - tol) is a lower bound of the squared distance over the varying columns
        c = za @ screen_t
        lift = sq_z * (1.0 - tol)
        kc = min(k + self.EXTRA, n_fit)
        if kc < n_fit:
            cand = np.argpartition(c, kc - 1, axis=1)[:, :kc]
        else:
            cand = np.broadcast_to(np.arange(n_fit), (nq, n_fit))
        d2c = np.empty(cand.shape)
        for s in range(0, nq, self.SUB):  # float64, from the differences; small blocks: cache
            diff = Xv[cand[s : s + self.SUB]]
            diff -= Zv[s : s + self.SUB, None, :]
            d2c[s : s + self.SUB] = np.einsum("ijk,ijk->ij", diff, diff)
        order = np.lexsort((cand, d2c), axis=1)[:, :k]  # by distance, then by training index
        d2k = np.take_along_axis(d2c, order, axis=1)
        idx = np.take_along_axis(cand, order, axis=1)
        # every row left out must be provably farther than the k-th neighbour
        limit = d2k[:, -1] * (1 + 1e-9) - lift
        if kc < n_fit:
            np.put_along_axis(c, cand, np.inf, axis=1)
            unsure = np.flatnonzero(c.min(axis=1) <= limit)
        else:
            unsure = np.empty(0, dtype=np.int64)
        for i in unsure:
            rows = np.union1d(np.flatnonzero(c[i] <= limit[i]), cand[i])
            dfull = Xv[rows] - Zv[i]
            dd = np.einsum("ij,ij->i", dfull, dfull)
            o = np.lexsort((rows, dd))[:k]
            d2k[i], idx[i] = dd[o], rows[o]
        return np.sqrt(d2k + base[:, None]), idx


# -- schedule imputation (shared with alloyml.modeling.models.ScheduleImputer) -------------------------------


def schedule_columns(
    feature_names: tuple[str, ...],
) -> tuple[np.ndarray, np.ndarray, int, int, np.ndarray]:
    """Columns of the schedule imputation: temper-class one-hot, stage features,
    ``proc_schedule_known``, ``proc_stages_implied``, alloy-family one-hot (empty without the
    ``family_v1`` group)."""
    names = list(feature_names)
    keys = [j for j, f in enumerate(names) if f.startswith("proc_temper_")]
    stage = [
        j
        for j, f in enumerate(names)
        if f.startswith(("proc_has_", "proc_homog", "proc_sol", "proc_age"))
        or f in ("proc_n_sol_stages", "proc_n_age_stages")
    ]
    fams = [j for j, f in enumerate(names) if f.startswith("family_")]
    return (
        np.array(keys),
        np.array(stage),
        names.index("proc_schedule_known"),
        names.index("proc_stages_implied"),
        np.array(fams, dtype=int),
    )


#: Temper classes whose thermal treatment is another class's (ANSI H35.1; ASTM B296 uses the same
#: T designations): T9 is solution heat-treated, artificially aged, then cold worked (the T6
#: treatment, cold work after it); T10 is cooled from shaping, cold worked, then artificially
#: aged (the T5 treatment, cold work before ageing). The cold work is the state descriptors'
#: to say (``proc_state_cold_work_*``); the schedule is the other class's.
SCHEDULE_FALLBACK: dict[str, str] = {"T9": "T6", "T10": "T5"}


def schedule_fallback(feature_names: tuple[str, ...]) -> np.ndarray:
    """Per temper class (``proc_temper_`` column order), the class whose schedule a row of it
    takes when no scheduled training row holds its own (:data:`SCHEDULE_FALLBACK`; the class
    itself otherwise)."""
    names = [f.removeprefix("proc_temper_") for f in feature_names if f.startswith("proc_temper_")]
    out = np.arange(len(names))
    for cls, other in SCHEDULE_FALLBACK.items():
        if cls in names and other in names:
            out[names.index(cls)] = names.index(other)
    return out


def schedule_keys(
    X: np.ndarray, columns: tuple[np.ndarray, np.ndarray, int, int, np.ndarray], n_fam: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: temper class index, whether the row has one, and alloy-family index (``n_fam``,
    the "any family" slot, for a row without a family or a table without family columns)."""
    keys, fams = columns[0], columns[4]
    key = X[:, keys].argmax(axis=1)
    has_key = X[:, keys].max(axis=1) > 0
    if n_fam:
        fam = np.where(X[:, fams].max(axis=1) > 0, X[:, fams].argmax(axis=1), n_fam)
    else:
        fam = np.full(len(X), n_fam)
    return key, has_key, fam


def fill_schedule(
    X: np.ndarray,
    columns: tuple[np.ndarray, np.ndarray, int, int, np.ndarray],
    medians: np.ndarray,
    fitted_keys: np.ndarray,
    fallback: np.ndarray | None = None,
) -> np.ndarray:
    """A copy of ``X`` with the stage features of rows whose state implies stages but whose
    schedule is unknown set to the medians of their alloy family and temper class, or, where
    that pair was not fitted, of their temper class (see ``ScheduleImputer``).

    ``medians`` is ``(n_families + 1, n_classes, n_stage)`` and ``fitted_keys``
    ``(n_families + 1, n_classes)``, the last family slot holding the temper class over every
    family (``n_families`` 0: the class alone). ``fallback`` (:func:`schedule_fallback`): a row
    of a class without any fitted schedule takes the schedule of the class it names (a T9 row
    the T6 schedule of its family) instead of none.
    """
    X = np.array(X, dtype=float, copy=True)
    n_fam = medians.shape[0] - 1
    _, stage, known, implied, _ = columns
    key, has_key, fam = schedule_keys(X, columns, n_fam)
    if fallback is not None:
        key = np.where(fitted_keys.any(axis=0)[key], key, fallback[key])
    fam = np.where(fitted_keys[fam, key], fam, n_fam)
    fill = has_key & (X[:, known] == 0) & (X[:, implied] > 0) & fitted_keys[fam, key]
    if fill.any():
        X[np.ix_(fill, stage)] = medians[fam[fill], key[fill]]
    return X


class ScheduleFill:
    """The fitted schedule imputation at prediction time (``medians_``, ``fitted_keys_``).

    A bundle written before the family slots stores 2-D arrays (one row per temper class); they
    become the "any family" slot alone."""

    def __init__(
        self, feature_names: tuple[str, ...], medians: np.ndarray, fitted_keys: np.ndarray
    ) -> None:
        self.feature_names = tuple(feature_names)
        medians, fitted_keys = np.asarray(medians), np.asarray(fitted_keys, dtype=bool)
        if medians.ndim == 2:
            medians, fitted_keys = medians[None], fitted_keys[None]
        self.medians_ = medians
        self.fitted_keys_ = fitted_keys
        self._columns = schedule_columns(self.feature_names)
        self._fallback = schedule_fallback(self.feature_names)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return fill_schedule(X, self._columns, self.medians_, self.fitted_keys_, self._fallback)


class Imputed:
    """A predictor behind a :class:`ScheduleFill` (``imputer_``, ``estimator_`` as in
    :class:`alloyml.modeling.models.ImputedRegressor`)."""

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

    def predict_with_spread(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        Z = self.imputer_.transform(X)
        if hasattr(self.estimator_, "predict_with_spread"):
            return self.estimator_.predict_with_spread(Z)
        return self.estimator_.predict(Z), None


class Blend:
    """The unweighted mean of loaded member predictors, in member order, as scikit-learn's
    :class:`~sklearn.ensemble.VotingRegressor` computes it (``np.average`` over the members'
    float64 predictions)."""

    def __init__(self, members: list[Any]) -> None:
        if not members:
            raise AlloyMLError("a blend needs at least one member model")
        self.members = list(members)

    @property
    def n_jobs(self) -> int:
        return 1

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"n_jobs": 1}

    def set_params(self, **params: Any) -> Blend:
        for m in self.members:
            if hasattr(m, "set_params"):
                m.set_params(**params)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_with_spread(X)[0]

    def predict_with_spread(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The mean of the members and the tree spread of the first forest member."""
        return blend_with_spread(
            m.predict_with_spread(X) if hasattr(m, "predict_with_spread") else (m.predict(X), None)
            for m in self.members
        )


def blend_with_spread(
    members: Iterable[tuple[np.ndarray, np.ndarray | None]],
) -> tuple[np.ndarray, np.ndarray | None]:
    """A mean blend's prediction and spread from its members' ``(prediction, spread)`` pairs:
    the unweighted mean as scikit-learn's ``VotingRegressor`` computes it, and the spread of the
    first member that has one (the blend's own spread is not a sample of anything; see
    :func:`alloyml.modeling.models.predict_with_spread`). Used by :class:`Blend` and by the
    fitted scikit-learn blend, so both give the same numbers."""
    preds, spread = [], None
    for p, s in members:
        spread = s if spread is None else spread
        preds.append(np.asarray(p, dtype=np.float64))
    return np.average(np.column_stack(preds), axis=1), spread
