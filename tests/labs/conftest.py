"""Fixtures for the labs tests: a fresh ``sim`` and tiny worlds built in one line."""

import pytest

import labs


@pytest.fixture
def sim():
    """A fresh simulation with seed 7 and constant 1 ms links (easy arithmetic)."""
    s = labs.Simulation(seed=7)
    s.network.latency = labs.Constant(1.0)
    return s


def _echo(ctx, req):
    """A handler that works 2 ms and echoes the body."""
    yield ctx.work(2.0)
    return req.body


def _chain(sim, work=2.0, timeout=None):
    """Register front -> back; front calls back with *timeout* and passes its status on."""
    def front(ctx, req):
        yield ctx.work(1.0)
        r = yield ctx.call("back", req.body, timeout=timeout)
        return r if not r.ok else {"via": r.body}

    def back(ctx, req):
        yield ctx.work(work)
        return req.body

    sim.service("front", front)
    sim.service("back", back)


@pytest.fixture
def echo():
    """The echo handler (2 ms of work, returns the body)."""
    return _echo


@pytest.fixture
def chain():
    """A function chain(sim, work=2.0, timeout=None) registering front -> back."""
    return _chain
