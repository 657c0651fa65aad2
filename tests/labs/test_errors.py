"""Errors: the hierarchy and messages that say what to fix."""

import labs
from labs.kernel.errors import _unknown_service


def test_hierarchy_is_value_error():
    """Every labs error is a LabsError and a ValueError."""
    for cls in (labs.ConfigError, labs.DeadlineError, labs.DuplicateServiceError,
                labs.UnknownServiceError):
        assert issubclass(cls, labs.LabsError) and issubclass(cls, ValueError)


def test_unknown_service_suggests_and_lists():
    """The message suggests close names, lists registered ones and shows the fix."""
    msg = str(_unknown_service("paymnt", ["payments", "orders"]))
    assert "Did you mean 'payments'" in msg and "'orders'" in msg and "sim.service(" in msg


def test_unknown_service_without_close_names():
    """No suggestion when nothing is close."""
    assert "Did you mean" not in str(_unknown_service("zzz", ["payments"]))
