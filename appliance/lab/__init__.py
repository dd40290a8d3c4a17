"""The hardware lab: measure a PHC and its oscillator (run.py over a device.py adapter), judge it
(appliance.core.lab), and write the report (report.py, plots.py) and the lab log (labdb.py)."""
