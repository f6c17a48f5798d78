package fusefs

// raiseReadAhead: the setting it makes is Linux's (the mount's
// backing-device info in sysfs).
func raiseReadAhead(string) {}
