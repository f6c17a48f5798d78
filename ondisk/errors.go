package ondisk

import (
	"errors"
	"fmt"
)

// ErrCorrupt is wrapped by every error that reports bytes which do not form
// a valid structure; test with errors.Is.
var ErrCorrupt = errors.New("corrupt")

// BlockError reports a failure at a logical address: a tree block or an
// item inside it. Tree and Key are optional context (zero when unknown).
type BlockError struct {
	Logical uint64 // logical address of the tree block or data
	Tree    uint64 // owning tree ID, 0 if unknown
	Key     *Key   // the item or pointer key concerned, nil if none
	Err     error
}

func (e *BlockError) Error() string {
	s := fmt.Sprintf("logical %d", e.Logical)
	if e.Tree != 0 {
		s += " in " + TreeName(e.Tree)
	}
	if e.Key != nil {
		s += " key " + e.Key.String()
	}
	return s + ": " + e.Err.Error()
}

func (e *BlockError) Unwrap() error { return e.Err }

// corruptf returns an error wrapping ErrCorrupt with a formatted message.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// ErrNotBtrfs is wrapped by errors for devices that hold no btrfs
// superblock at all (wrong magic, or too small to hold one).
var ErrNotBtrfs = errors.New("not a btrfs filesystem")

// ErrUnsupported is wrapped by errors for valid filesystems that use a
// feature coldsend cannot read.
var ErrUnsupported = errors.New("unsupported feature")

// kindError is a message that matches a sentinel under errors.Is without
// repeating the sentinel's text.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

func notBtrfsf(format string, args ...any) error {
	return &kindError{ErrNotBtrfs, fmt.Sprintf(format, args...)}
}

func unsupportedf(format string, args ...any) error {
	return &kindError{ErrUnsupported, fmt.Sprintf(format, args...)}
}

// invalidf is corruptf without the "corrupt: " prefix, for messages that
// are listed per copy and would repeat it.
func invalidf(format string, args ...any) error {
	return &kindError{ErrCorrupt, fmt.Sprintf(format, args...)}
}

// Invalidf returns an error that matches ErrCorrupt under errors.Is but
// does not repeat "corrupt" in its text: for verification failures that
// a read lists once per copy, such as a data checksum mismatch.
func Invalidf(format string, args ...any) error { return invalidf(format, args...) }

// Corruptf returns an error wrapping ErrCorrupt, "corrupt: " followed by
// the formatted message.
func Corruptf(format string, args ...any) error { return corruptf(format, args...) }

// Errorf returns an error that matches kind under errors.Is and reads as
// the formatted message alone.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind, fmt.Sprintf(format, args...)}
}
