import os

from hypothesis import HealthCheck, settings

# A fixed, derandomised example budget keeps CI reproducible and the suite well under 10 minutes;
# HYPOTHESIS_PROFILE=dev explores fresh random examples.
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
