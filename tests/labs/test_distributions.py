"""Distributions: ranges, means and validation."""

import random

import pytest

import labs


@pytest.mark.parametrize("dist", [labs.Constant(3), labs.Uniform(1, 5), labs.Exponential(2),
                                  labs.Normal(5, 2), labs.LogNormal(4, 0.5),
                                  labs.Mixture([(0.9, labs.Constant(1)), (0.1, labs.Constant(100))])])
def test_samples_non_negative_and_mean_close(dist):
    """Samples are >= 0 and their average is near the declared mean."""
    rng = random.Random(1)
    xs = [dist.sample(rng) for _ in range(20_000)]
    assert min(xs) >= 0
    assert abs(sum(xs) / len(xs) - dist.mean) < 0.1 * dist.mean + 0.05


def test_uniform_within_bounds():
    """Uniform(lo, hi) stays in [lo, hi]."""
    rng = random.Random(2)
    assert all(1 <= labs.Uniform(1, 2).sample(rng) <= 2 for _ in range(1000))


@pytest.mark.parametrize("make,needle", [(lambda: labs.Exponential(-1), "mean"),
                                         (lambda: labs.Constant(-2), "value"),
                                         (lambda: labs.Uniform(5, 1), "hi"),
                                         (lambda: labs.Normal(1, -1), "sd"),
                                         (lambda: labs.Mixture([(0.5, labs.Constant(1))]), "add up to 1"),
                                         (lambda: labs.Mixture([(1.5, labs.Constant(1))]), "probability")])
def test_bad_parameters_raise_config_error(make, needle):
    """Invalid parameters raise a ConfigError that names them."""
    with pytest.raises(labs.ConfigError, match=needle):
        make()


def test_same_rng_same_draws():
    """Draws depend only on the generator's state."""
    d = labs.LogNormal(10, 1)
    assert [d.sample(random.Random(5)) for _ in range(3)] == [d.sample(random.Random(5))] * 3
