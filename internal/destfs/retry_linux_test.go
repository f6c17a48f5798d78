package destfs

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRetry: a call interrupted by a signal is made again until it
// returns anything but EINTR, and that is what the caller gets.
func TestRetry(t *testing.T) {
	for _, tc := range []struct {
		name      string
		results   []error
		want      error
		wantCalls int
	}{
		{"succeeds", []error{nil}, nil, 1},
		{"interrupted twice", []error{unix.EINTR, unix.EINTR, nil}, nil, 3},
		{"interrupted, then fails", []error{unix.EINTR, unix.ENOSPC}, unix.ENOSPC, 2},
		{"fails", []error{unix.EPERM}, unix.EPERM, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := retry(func() error {
				calls++
				return tc.results[calls-1]
			})
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) || calls != tc.wantCalls {
				t.Errorf("got %v after %d calls, want %v after %d", err, calls, tc.want, tc.wantCalls)
			}
			calls = 0
			n, err := retryValue(func() (int, error) {
				calls++
				return calls, tc.results[calls-1]
			})
			if n != tc.wantCalls || !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Errorf("retryValue gave %d, %v; want %d, %v", n, err, tc.wantCalls, tc.want)
			}
		})
	}
}
