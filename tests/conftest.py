"""Suite-wide settings.

Under CI (``CI`` set) every hypothesis test runs a fixed, derandomised set of examples,
so a run's verdict depends only on the code; locally they keep exploring new inputs
(and remember failures in the example database)."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
