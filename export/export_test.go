package export

// ModeString is modeString, for the external tests.
var ModeString = modeString
