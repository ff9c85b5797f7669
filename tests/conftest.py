import os

from hypothesis import HealthCheck, settings

# A fixed, derandomised example budget keeps CI reproducible and the suite well under 10 minutes;
# HYPOTHESIS_PROFILE=dev explores fresh random examples.
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=300, deadline=None)
# long explorations: fresh random examples; tests with a budget of their own scale it up (the plan's
# differential test runs 100,000 chains)
settings.register_profile("long", max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_report_header(config):
    """Say which oracles the op tests check against (PyTorch may be absent)."""
    from tests.ops.oracle import oracles_line
    return oracles_line()


def pytest_terminal_summary(terminalreporter):
    """The same line after the results, where the project's quiet runs show it."""
    terminalreporter.write_line(pytest_report_header(None))
