"""Shared test helpers: network namespaces, real chronyd instances, appliance processes."""
