"""Test-suite wide settings."""
