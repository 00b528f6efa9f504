import pytest

from wikiguard.domain.alerts import DEFAULT_ROUTES, AlertKind, AlertSeverity, Route
from wikiguard.entrypoints.settings import Settings, SettingsError


def test_defaults_without_environment():
    settings = Settings.from_env({})
    assert settings.catalog == "local" and settings.alert_routes == DEFAULT_ROUTES


def test_alert_routes_are_configuration():
    settings = Settings.from_env({"WIKIGUARD_ALERT_ROUTES": "CRITICAL=sns+slack, anomaly:warning=slack,INFO=log"})
    assert settings.alert_routes == (
        Route(None, AlertSeverity.CRITICAL, ("sns", "slack")),
        Route(AlertKind.ANOMALY, AlertSeverity.WARNING, ("slack",)),
        Route(None, AlertSeverity.INFO, ("log",)),
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WIKIGUARD_ALERT_ROUTES": "LOUD=slack"}, "WIKIGUARD_ALERT_ROUTES"),
        ({"WIKIGUARD_ALERT_ROUTES": "WARNING="}, "names no sink"),
        ({"WIKIGUARD_BATCH_ROWS": "many"}, "WIKIGUARD_BATCH_ROWS must be a whole number"),
        ({"WIKIGUARD_CATALOG": "hive"}, "WIKIGUARD_CATALOG must be one of"),
        ({"WIKIGUARD_CATALOG": "glue"}, "WIKIGUARD_S3_WAREHOUSE"),
        ({"WIKIGUARD_ALLOWED_LATENESS_SECONDS": "-5"}, "must not be negative"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
