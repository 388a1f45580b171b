"""Test helpers: a fake OAuth/OIDC provider and extra app instances."""
