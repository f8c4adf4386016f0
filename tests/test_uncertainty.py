"""Conformal intervals (quantile, coverage, adaptivity) and the domain of applicability."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alloyml.modeling.uncertainty import ConformalInterval, Domain, conformal_quantile


def test_conformal_quantile_hand_example():
    scores = np.array([0.5, 3.0, 1.0, 2.0, 4.0, 6.0, 5.0, 8.0, 7.0])  # sorted: 0.5, 1 ... 8
    # n = 9, alpha = 0.2: ceil(10 * 0.8) = 8 -> 8th smallest = 7.0
    assert conformal_quantile(scores, 0.2) == 7.0
    # alpha = 0.5: ceil(10 * 0.5) = 5 -> 5th smallest = 4.0
    assert conformal_quantile(scores, 0.5) == 4.0
    # alpha = 0.1: ceil(10 * 0.9) = 9 -> the largest
    assert conformal_quantile(scores, 0.1) == 8.0


def test_conformal_quantile_matches_order_statistic_formula():
    rng = np.random.default_rng(0)
    for n in (19, 20, 99, 500):
        s = rng.exponential(size=n)
        for alpha in (0.05, 0.1, 0.3):
            k = math.ceil((n + 1) * (1 - alpha))
            expected = np.sort(s)[k - 1] if k <= n else math.inf
            assert conformal_quantile(s, alpha) == expected


def test_conformal_quantile_is_infinite_for_tiny_n():
    assert conformal_quantile(np.array([1.0, 2.0, 3.0]), 0.1) == math.inf  # ceil(4 * .9) = 4 > 3
    assert conformal_quantile(np.array([]), 0.1) == math.inf


def _homoscedastic(rng, n):
    x = rng.uniform(0.0, 10.0, size=n)
    return x.reshape(-1, 1), x + rng.normal(0.0, 1.0, size=n), x


def _heteroscedastic(rng, n):
    x = rng.uniform(0.0, 10.0, size=n)
    sd = 0.2 + 0.5 * x  # noise grows from 0.2 to 5.2 across the range
    return x.reshape(-1, 1), x + rng.normal(0.0, 1.0, size=n) * sd, x


@pytest.mark.parametrize("normalised", [False, True])
@pytest.mark.parametrize("make", [_homoscedastic, _heteroscedastic])
def test_interval_coverage_on_exchangeable_data(make, normalised):
    rng = np.random.default_rng(42)
    X_cal, y_cal, mu_cal = make(rng, 500)
    X_te, y_te, mu_te = make(rng, 2000)
    iv = ConformalInterval(alpha=0.1, normalised=normalised).fit(X_cal, y_cal, mu_cal)
    assert (iv.scaler_ is not None) == normalised
    lo, hi = iv.predict_interval(X_te, mu_te)
    assert np.all(lo <= mu_te) and np.all(mu_te <= hi)
    coverage = np.mean((y_te >= lo) & (y_te <= hi))
    assert 0.87 <= coverage <= 0.95


def test_plain_interval_is_the_conformal_quantile():
    rng = np.random.default_rng(1)
    X, y, mu = _homoscedastic(rng, 200)
    iv = ConformalInterval(alpha=0.1, normalised=False).fit(X, y, mu)
    assert iv.q_ == conformal_quantile(np.abs(y - mu), 0.1)
    np.testing.assert_allclose(iv.half_width(X[:5]), iv.q_)


def test_normalised_intervals_follow_the_noise():
    rng = np.random.default_rng(7)
    X_cal, y_cal, mu_cal = _heteroscedastic(rng, 500)
    iv = ConformalInterval(alpha=0.1, normalised=True).fit(X_cal, y_cal, mu_cal)
    quiet = iv.half_width(np.array([[0.5], [1.0]]))
    noisy = iv.half_width(np.array([[9.0], [9.5]]))
    assert noisy.min() > 2.5 * quiet.max()
    # conditional coverage: even with the normalised interval; the plain one over-covers
    # the quiet rows and under-covers the noisy ones
    X_te, y_te, mu_te = _heteroscedastic(rng, 4000)
    quiet_rows = X_te[:, 0] < 3.0
    plain = ConformalInterval(alpha=0.1, normalised=False).fit(X_cal, y_cal, mu_cal)
    gaps = {}
    for name, interval in (("normalised", iv), ("plain", plain)):
        lo, hi = interval.predict_interval(X_te, mu_te)
        inside = (y_te >= lo) & (y_te <= hi)
        gaps[name] = abs(inside[quiet_rows].mean() - inside[~quiet_rows].mean())
    assert gaps["normalised"] < 0.1 < gaps["plain"]


def test_normalised_falls_back_to_plain_for_small_calibration_sets():
    rng = np.random.default_rng(2)
    X, y, mu = _homoscedastic(rng, 30)
    iv = ConformalInterval(alpha=0.2, normalised=True).fit(X, y, mu)
    assert iv.scaler_ is None
    assert iv.q_ == conformal_quantile(np.abs(y - mu), 0.2)


def test_normalised_needs_min_groups_composition_groups():
    # 400 rows in 20 groups: the scale of a row would come from one or two other groups
    rng = np.random.default_rng(3)
    X, y, mu = _heteroscedastic(rng, 400)
    few = np.repeat(np.arange(20), 20)
    iv = ConformalInterval(alpha=0.1, normalised=True).fit(X, y, mu, groups=few)
    assert iv.scaler_ is None
    assert iv.q_ == conformal_quantile(np.abs(y - mu), 0.1)
    # the same rows in 40 groups reach the default min_groups (30), and a lower bar lets 20 pass
    many = np.repeat(np.arange(40), 10)
    assert ConformalInterval(alpha=0.1).fit(X, y, mu, groups=many).scaler_ is not None
    low = ConformalInterval(alpha=0.1, min_groups=20).fit(X, y, mu, groups=few)
    assert low.scaler_ is not None


@pytest.fixture(scope="module")
def domain_data():
    rng = np.random.default_rng(9)
    mean = np.array([5.0, 2.0, 500.0])
    scale = np.array([1.0, 0.5, 100.0])  # third feature in other units: standardised away
    X_train = mean + scale * rng.normal(size=(300, 3))
    X_like = mean + scale * rng.normal(size=(200, 3))
    return X_train, X_like, mean, scale


def test_domain_calibrate_uses_the_level_quantile(domain_data):
    X_train, X_like, *_ = domain_data
    dm = Domain(k=5, level=0.9).fit(X_train)
    assert dm.threshold_ == math.inf  # uncalibrated: everything in domain
    held = Domain(k=5).fit(X_train[:200]).distance(X_train[200:])
    assert dm.calibrate(held) is dm
    assert dm.threshold_ == pytest.approx(np.quantile(held, 0.9))


def test_domain_flags_far_points_and_keeps_training_like_points(domain_data):
    X_train, X_like, mean, scale = domain_data
    dm = Domain(k=5, level=0.95).fit(X_train)
    held = Domain(k=5).fit(X_train[:200]).distance(X_train[200:])
    dm.calibrate(held)
    assert dm.in_domain(X_like).mean() >= 0.9
    far = np.vstack([mean + 8 * scale, mean - np.array([0.0, 0.0, 10.0]) * scale])
    assert not dm.in_domain(far).any()
    # a training row is at distance ~0 from itself unless excluded
    d_self = dm.distance(X_train[:10])
    d_excl = dm.distance(X_train[:10], exclude_self=True)
    assert (d_excl > d_self).all()


def test_domain_ignores_columns_constant_up_to_rounding():
    """A column equal to 0.3 up to float rounding must not dominate the distance."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    noisy_constant = 0.3 + rng.normal(scale=1e-10, size=200)
    dom = Domain(k=5).fit(np.column_stack([X, noisy_constant]))
    probe = np.array([[0.0, 0.0, 0.0, 0.3 + 1e-9]])
    same = np.array([[0.0, 0.0, 0.0, 0.3]])
    # without a relative floor the 1e-9 shift would be ~10 standard deviations
    assert dom.distance(probe)[0] == pytest.approx(dom.distance(same)[0], abs=1e-6)
    assert dom.scale_[3] == 1.0 and np.all(dom.scale_[:3] != 1.0)


# ---------------------------------------------------------------- shift: Mondrian and support


def test_domain_support_flags_a_rare_process_key_even_when_close():
    from alloyml.modeling.uncertainty import process_keys

    rng = np.random.default_rng(0)
    comp = rng.normal(size=(200, 3))
    onehot = np.zeros((200, 2))
    onehot[:198, 0] = 1.0  # 198 rows of state A, 2 of state B
    onehot[198:, 1] = 1.0
    X = np.hstack([comp, onehot])
    dm = Domain(k=5, level=0.95, support_groups=((3, 4),), min_support=5).fit(X)
    dm.calibrate(dm.distance(X, exclude_self=True))
    probe = np.array([[0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]])
    assert dm.support(probe).tolist() == [198, 2]
    assert dm.in_domain(probe).tolist() == [True, False]
    assert process_keys(probe, ((3, 4),)).tolist() == [0, 1]


def test_mondrian_interval_widens_out_of_domain_and_covers_the_shifted_rows():
    from alloyml.modeling.uncertainty import ShiftCalibration

    rng = np.random.default_rng(1)
    n = 400
    X = rng.uniform(0, 1, size=(n, 2))
    y = X[:, 0] + rng.normal(0, 0.1, n)
    oof = X[:, 0]  # a perfect mean model: residuals are the in-domain noise
    # shifted rows (another lab): an offset and 3x the noise; flagged out of domain
    Xs = rng.uniform(0, 1, size=(300, 2))
    ys = Xs[:, 0] + 0.2 + rng.normal(0, 0.3, 300)
    shift = ShiftCalibration(Xs, ys, Xs[:, 0], np.zeros(300, bool))
    iv = ConformalInterval(alpha=0.1, normalised=False).fit(X, y, oof, np.ones(n, bool), shift)
    assert iv.q_out_ > 2.5 * iv.q_
    # fresh draws of both kinds: each category covers near 90 %
    Xt = rng.uniform(0, 1, size=(2000, 2))
    yin = Xt[:, 0] + rng.normal(0, 0.1, 2000)
    yout = Xt[:, 0] + 0.2 + rng.normal(0, 0.3, 2000)
    lo, hi = iv.predict_interval(Xt, Xt[:, 0], np.ones(2000, bool))
    cov_in = np.mean((yin >= lo) & (yin <= hi))
    lo, hi = iv.predict_interval(Xt, Xt[:, 0], np.zeros(2000, bool))
    cov_out = np.mean((yout >= lo) & (yout <= hi))
    assert 0.86 <= cov_in <= 0.94
    assert 0.86 <= cov_out <= 0.94
    # without the shift calibration the shifted rows would be badly under-covered
    plain = ConformalInterval(alpha=0.1, normalised=False).fit(X, y, oof)
    lo, hi = plain.predict_interval(Xt, Xt[:, 0])
    assert np.mean((yout >= lo) & (yout <= hi)) < 0.6


def test_out_of_domain_quantile_pools_every_kind_of_shift():
    """Rows of a new lab and rows of an unseen family both land out of domain; calibrated on the
    two kinds of held-out residuals together, the out-of-domain interval covers a mixture of
    them, where calibrating on the milder kind alone under-covers the other."""
    from alloyml.modeling.uncertainty import ShiftCalibration

    rng = np.random.default_rng(2)
    n = 400
    X = rng.uniform(0, 1, size=(n, 2))
    y = X[:, 0] + rng.normal(0, 0.1, n)
    oof = X[:, 0]

    def shifted(m, sd):
        Xs = rng.uniform(0, 1, size=(m, 2))
        return Xs, Xs[:, 0] + rng.normal(0, sd, m)

    Xl, yl = shifted(300, 0.2)  # held-out sources: a milder shift
    Xf, yf = shifted(300, 0.5)  # held-out families: a stronger one
    lab = ShiftCalibration(Xl, yl, Xl[:, 0], np.zeros(300, bool))
    fam = ShiftCalibration(Xf, yf, Xf[:, 0], np.zeros(300, bool))
    one = ConformalInterval(alpha=0.1, normalised=False).fit(X, y, oof, np.ones(n, bool), lab)
    both = ConformalInterval(alpha=0.1, normalised=False).fit(
        X, y, oof, np.ones(n, bool), [lab, fam]
    )
    # the pooled quantile is the conformal quantile of both kinds' scores together
    pooled = np.abs(np.r_[yl - Xl[:, 0], yf - Xf[:, 0]])
    assert both.q_out_ == pytest.approx(conformal_quantile(pooled, 0.1))
    assert both.q_out_ > one.q_out_
    # a shifted row equally likely of either kind: pooled calibration covers it
    Xt = rng.uniform(0, 1, size=(4000, 2))
    yt = Xt[:, 0] + rng.normal(0, np.where(np.arange(4000) % 2, 0.2, 0.5))
    cov = {}
    for name, iv in (("one", one), ("both", both)):
        lo, hi = iv.predict_interval(Xt, Xt[:, 0], np.zeros(4000, bool))
        cov[name] = np.mean((yt >= lo) & (yt <= hi))
    assert cov["both"] >= 0.87
    assert cov["one"] < 0.8


def _grouped_rows(rng, n_groups, per_group):
    """Rows in composition groups: group mates sit close together and share one error (the
    group's offset, scaled by a smooth difficulty), as tempers of one alloy do."""
    centres = rng.uniform(0, 10, size=(n_groups, 2))
    g = np.repeat(np.arange(n_groups), per_group)
    X = centres[g] + rng.normal(0, 0.05, size=(len(g), 2))
    scale = 1.0 + X[:, 0] / 5.0
    r = (rng.normal(0, 1, n_groups)[g] + rng.normal(0, 0.1, len(g))) * scale
    return X, r, g


def test_group_mates_do_not_shrink_the_calibrated_quantile():
    """A calibration row's difficulty scale must not come from its own group: with group mates
    among its neighbours the scale tracks the row's own (shared) error, every score is ~1 and
    new groups are under-covered. Skipping the group restores the nominal coverage."""
    rng = np.random.default_rng(1)
    X, r, g = _grouped_rows(rng, 150, 8)
    Xn, rn, _ = _grouped_rows(rng, 400, 5)  # new groups
    y, oof = r, np.zeros(len(r))
    leaky = ConformalInterval(alpha=0.1, normalised=True).fit(X, y, oof)
    fair = ConformalInterval(alpha=0.1, normalised=True).fit(X, y, oof, groups=g)
    cov = {}
    for name, iv in (("leaky", leaky), ("fair", fair)):
        lo, hi = iv.predict_interval(Xn, np.zeros(len(Xn)))
        cov[name] = float(np.mean((rn >= lo) & (rn <= hi)))
    assert cov["leaky"] < 0.8, cov
    assert 0.85 <= cov["fair"] <= 0.95, cov
    assert fair.q_ > leaky.q_


def test_scale_skips_neighbours_with_the_rows_label():
    X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]] * 6)
    res = np.tile([10.0, 10.0, 10.0, 1.0, 1.0, 1.0], 6)
    labels = np.tile(["a", "a", "a", "b", "b", "b"], 6)
    iv = ConformalInterval(alpha=0.1, normalised=True).fit(X, res, np.zeros(len(res)))
    sc = iv.scaler_
    # its own label skipped, a row of 'a' only has 'b' rows to go by, and the other way round
    own = sc(X[:1], labels=np.array(["a"]), fit_labels=labels)
    other = sc(X[:1], labels=np.array(["b"]), fit_labels=labels)
    assert own[0] == pytest.approx(max(1.0 / sc.global_, sc.floor))
    assert other[0] == pytest.approx(10.0 / sc.global_)


def test_scale_labels_come_in_pairs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    iv = ConformalInterval(alpha=0.1, normalised=True).fit(X, rng.normal(size=40), np.zeros(40))
    with pytest.raises(ValueError, match="both labels and fit_labels"):
        iv.scaler_(X, labels=np.zeros(40))
    # the calibration scores the quantile came from are kept, not recomputed by callers
    assert iv.q_ == conformal_quantile(iv.scores_, 0.1)
