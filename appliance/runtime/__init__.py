"""The shell around the core: the service loop, sockets, timers and systemd integration."""
