"""Provisioning tasks (queue provisioning): LiteLLM users, teams and keys."""
