"""The shell around the pure node (appliance.core.node): clocks, sockets, timers, child processes,
the control socket, metrics and hot-plug. See appliance/runtime/app.py for its threads."""
