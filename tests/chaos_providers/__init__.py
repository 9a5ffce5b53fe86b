"""Tiny Chaos Toolkit providers for tests, standing in for the chaos/ extension."""
