package volume

import (
	"errors"
	"fmt"

	"github.com/coldsend/coldsend/ondisk"
)

// DeviceError reports a failure at a physical byte offset of one device.
type DeviceError struct {
	Device string   // path or name of the device
	Offset Physical // byte offset on that device
	What   string   // what was being read, e.g. "superblock"
	Err    error
}

func (e *DeviceError) Error() string {
	return fmt.Sprintf("%s: %s at byte offset %d: %v", e.Device, e.What, e.Offset, e.Err)
}

func (e *DeviceError) Unwrap() error { return e.Err }

// ErrMissingDevice is wrapped by Open's error when a device the filesystem
// needs was not given.
var ErrMissingDevice = errors.New("missing device")

func corruptf(format string, args ...any) error { return ondisk.Corruptf(format, args...) }

// invalidf is corruptf without the "corrupt: " prefix, for messages that
// are listed per copy and would repeat it.
func invalidf(format string, args ...any) error { return ondisk.Invalidf(format, args...) }

func notBtrfsf(format string, args ...any) error {
	return ondisk.Errorf(ondisk.ErrNotBtrfs, format, args...)
}

func unsupportedf(format string, args ...any) error {
	return ondisk.Errorf(ondisk.ErrUnsupported, format, args...)
}

func missingf(format string, args ...any) error {
	return ondisk.Errorf(ErrMissingDevice, format, args...)
}
