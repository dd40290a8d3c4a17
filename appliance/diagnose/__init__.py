"""`appliance diagnose`, the gathering half: adapters that run chronyc, timedatectl and pmc, read
/proc/driver/rtc, the kernel's adjtimex state and the appliance's control socket. The judging is in
appliance.core.diagnose.diagnosis."""
