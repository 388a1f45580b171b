"""Marshmallow schemas: request validation and response shapes (camelCase on the wire)."""
