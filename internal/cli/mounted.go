package cli

// mount is an image or device given on the command line that backs a
// filesystem mounted read-write.
type mount struct {
	path       string // as given
	mountPoint string
}
