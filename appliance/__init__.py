"""Time appliance for air-gapped Kubernetes / Harvester clusters."""

__version__ = "0.1.0"
