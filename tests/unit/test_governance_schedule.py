import pytest

from config.settings import ConfigError, Settings, load_settings
from worker.schedule import beat_schedule


def test_beat_runs_the_three_governance_sweeps_and_each_can_be_turned_off():
    kinds = {entry["args"][0] for entry in beat_schedule(Settings()).values()
             if entry.get("args")}
    assert {"budget_sweep", "key_hygiene_sweep", "access_sweep"} <= kinds
    off = beat_schedule(Settings(BUDGET_SWEEP_INTERVAL=0, KEY_HYGIENE_INTERVAL=0,
                                 ACCESS_SWEEP_INTERVAL=0))
    assert not {"budget-sweep", "key-hygiene", "access-sweep"} & set(off)


def test_governance_settings_default_to_todays_behaviour_and_parse_from_env():
    defaults = Settings()
    assert defaults.KEY_IDLE_DISABLE_DAYS == 0 and defaults.KEY_ROTATION_GRACE == 0
    assert defaults.BUDGET_ALERT_THRESHOLDS == ("50", "80", "100")
    loaded = load_settings({"BUDGET_ALERT_THRESHOLDS": "75, 90", "KEY_ROTATION_GRACE": "3600",
                            "SMTP_STARTTLS": "false"})
    assert loaded.BUDGET_ALERT_THRESHOLDS == ("75", "90")
    assert loaded.KEY_ROTATION_GRACE == 3600 and loaded.SMTP_STARTTLS is False


@pytest.mark.parametrize("overrides", [{"BUDGET_ALERT_THRESHOLDS": ("50", "eighty")},
                                       {"BUDGET_ALERT_THRESHOLDS": ("0",)},
                                       {"KEY_EXPIRY_REMINDER_DAYS": ("-1",)},
                                       {"NOTIFY_MAX_ATTEMPTS": 0}])
def test_unusable_governance_settings_refuse_to_start(overrides):
    with pytest.raises(ConfigError):
        Settings(APP_ENV="test", DATABASE_URL="postgresql://x/y", REDIS_URL="redis://x",
                 **overrides).validate()
