"""Pure logic: no sockets, files, clocks, subprocesses or ctypes. Inputs are arguments, decisions
are return values, so that every part can be tested without root, network or sleeping."""
