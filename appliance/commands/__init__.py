"""One module per top-level command; see appliance.cli.COMMAND_MODULES."""
