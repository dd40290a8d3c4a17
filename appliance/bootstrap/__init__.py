"""`appliance bootstrap`, the adapters: gather the evidence from the host (appliance.bootstrap.gather),
keep the state directory's records (records), set the clock (apply). The decision itself is pure:
appliance.core.bootstrap."""
