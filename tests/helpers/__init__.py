"""Shared test helpers (importable as ``helpers`` from every test; bench/ and tests/fixtures/ import
them the same way): netns (test hosts: namespaces, veth pairs, bridges, 198.18.0.0/15; the make_net
fixture is in tests/conftest.py), wait (the one wait_for), chrony (a real chronyd -x), appliance_proc
(`appliance serve` as a process), requirements (skip, or fail under APPLIANCE_REQUIRE_INTEGRATION=1)."""
