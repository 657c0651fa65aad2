"""Tests of labs.observe.queueing: Little's law, Erlang C / M/M/c, the USL and its fit."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labs
from labs import ConfigError
from labs.observe.queueing import erlang_c, little, mmc, usl, usl_fit, usl_peak, _parity


def test_little_solves_for_the_missing_one():
    assert little(arrival_rate=200, W=0.05) == pytest.approx(10)
    assert little(L=10, W=0.05) == pytest.approx(200)
    assert little(L=10, arrival_rate=200) == pytest.approx(0.05)


def test_erlang_c_known_values():
    # M/M/1: P(wait) = rho
    assert erlang_c(1, 0.7) == pytest.approx(0.7)
    # a classic table value: c = 10, a = 8 Erlangs -> 0.4092
    assert erlang_c(10, 8.0) == pytest.approx(0.40918, abs=1e-5)
    assert erlang_c(3, 3.0) == 1.0


def test_mmc_matches_mm1_closed_form():
    m = mmc(80, 100, 1)          # rho 0.8, Wq = rho / (mu - lam)
    assert m.wait == pytest.approx(0.8 / 20)
    assert m.response == pytest.approx(1 / 20)
    assert m.in_system == pytest.approx(4.0)        # rho / (1 - rho)
    assert mmc(100, 100, 1).stable is False


def test_usl_peak_and_fit_recover_coefficients():
    assert usl_peak(0.05, 0.002) == pytest.approx(math.sqrt(0.95 / 0.002))
    assert usl_peak(0.1, 0.0) == math.inf
    ns = [1, 2, 4, 8, 16, 32]
    fit = usl_fit(ns, [usl(n, 0.08, 0.001, 250.0) for n in ns])
    assert fit.sigma == pytest.approx(0.08, abs=1e-9)
    assert fit.kappa == pytest.approx(0.001, abs=1e-9)
    assert fit.single == 250.0
    assert fit.throughput(8) == pytest.approx(usl(8, 0.08, 0.001, 250.0))


def test_fit_clamps_negative_coefficients():
    ns = [1, 2, 3, 4]
    fit = usl_fit(ns, [10.0, 20.5, 31.0, 41.0])       # slightly superlinear: sigma < 0 raw
    assert fit.sigma >= 0 and fit.kappa >= 0


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 0.9), st.floats(1e-5, 0.1))
def test_peak_maximises_the_curve(sigma, kappa):
    """Property: N* is the maximum of the continuous USL curve."""
    n = usl_peak(sigma, kappa)
    if n < 1.01:
        return
    x = usl(n, sigma, kappa)
    assert x >= usl(max(1.0, n * 0.9), sigma, kappa) - 1e-9
    assert x >= usl(n * 1.1, sigma, kappa) - 1e-9


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60), st.floats(0.01, 0.99))
def test_erlang_c_is_a_probability_rising_with_load(c, rho):
    p = erlang_c(c, rho * c)
    assert 0.0 <= p <= 1.0
    assert erlang_c(c, min(0.999, rho + 0.005) * c) >= p - 1e-12


def test_same_seed_same_digest():
    assert _parity(3) == _parity(3)
    assert _parity(3) != _parity(4)


@pytest.mark.parametrize("call", [
    lambda: little(L=1),
    lambda: little(L=1, arrival_rate=2, W=3),
    lambda: little(L=-1, W=2),
    lambda: erlang_c(0, 1.0),
    lambda: erlang_c(2, -1.0),
    lambda: mmc(1, 0, 1),
    lambda: usl(0.5, 0.1, 0.1),
    lambda: usl_peak(1.5, 0.1),
    lambda: usl_fit([1, 2], [1.0]),
    lambda: usl_fit([2, 4], [1.0, 2.0]),
    lambda: usl_fit([1, 2, 2], [1.0, 2.0, 2.0]),
    lambda: usl_fit([1, 2, 3], [1.0, 0.0, 2.0]),
])
def test_bad_parameters_raise_config_error(call):
    with pytest.raises(ConfigError):
        call()


def test_public_module():
    assert labs.queueing.mmc is mmc
