"""Shared test helpers: real services, isolated per run, cleaned up afterwards."""
