"""The hardware lab's analysis, pure: measurements in, metrics, checks and a verdict out.

The lab (appliance/lab/) measures a PHC and its oscillator and records what it saw; this package
turns those records into numbers a timing lab reads (read jitter, frequency linearity, landed phase
steps, TIE / ADEV / MDEV / TDEV / MTIE, the frequency-temperature slope) and into checks with limits
from hardware/nics.yaml and hardware/oscillators.yaml. Nothing here reads a clock, a file or a
device: the shell passes the records and the limits in.
"""
