"""Configuration: settings from the environment, gunicorn and LiteLLM configs."""

from config.settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
