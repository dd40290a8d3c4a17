"""Pure renderers: configuration of other programs, built from the appliance's configuration."""
