package cli

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlocking the pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR, 0)
	if err != nil {
		t.Skipf("opening the pty: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestTerminals: a stream is never written to, or read from, a terminal;
// /dev/null, a character device too, is fine.
func TestTerminals(t *testing.T) {
	_, tty := openPTY(t)
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	if !isTerminal(tty.Fd()) || isTerminal(devNull.Fd()) {
		t.Fatalf("isTerminal: pty %v, /dev/null %v", isTerminal(tty.Fd()), isTerminal(devNull.Fd()))
	}
	img := concatImage(t)
	var errOut strings.Builder
	if st := Run([]string{"send", "-q", img, "s1"}, nil, tty, &errOut); st != 1 || !strings.Contains(errOut.String(), "terminal") {
		t.Errorf("send to a terminal: status %d, %q", st, errOut.String())
	}
	errOut.Reset()
	if st := Run([]string{"send", "-q", img, "s1"}, nil, devNull, &errOut); st != 0 {
		t.Errorf("send to /dev/null: status %d, %q", st, errOut.String())
	}
	errOut.Reset()
	if st := Run([]string{"dump"}, tty, devNull, &errOut); st != 1 || !strings.Contains(errOut.String(), "terminal") {
		t.Errorf("dump from a terminal: status %d, %q", st, errOut.String())
	}
}
