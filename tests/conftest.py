"""Shared pytest set-up.

* Hypothesis runs derandomized (fixed examples, no example database, no
  deadline): the suite gives the same verdict on every run and machine.
* ``backend``: runs a test once per registered backend (``dn.backends()``),
  with that backend active.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

import dynorm as dn

settings.register_profile(
    "dynorm",
    derandomize=True,
    database=None,
    deadline=None,
    # ``backend`` only switches the active backend: sharing it across examples is fine.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.load_profile("dynorm")


@pytest.fixture(params=dn.backends())
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    with dn.use_backend(request.param):
        yield request.param
