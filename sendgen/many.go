package sendgen

import (
	"fmt"
	"io"
	"slices"

	"github.com/coldsend/coldsend/fstree"
)

// ManyOptions are Options for SendMany, which sends several subvolumes
// as `btrfs send [-e] [-p PARENT] [-c CLONE]... SUBVOL...` does.
type ManyOptions struct {
	// Proto, NoData, CompressedData, Parent and Clones apply to every
	// subvolume (OmitHeader and OmitEnd are SendMany's to set).
	Options
	// Chain sends the subvolumes as one stream, with one header and one
	// END (btrfs send -e); otherwise each gets a complete stream of its
	// own, one after the other.
	Chain bool
	// Before, when set, is called before subvolume i is sent (btrfs send
	// prints "At subvol" then).
	Before func(i int)
}

// ManyError says which subvolume of a SendMany failed.
type ManyError struct {
	Index int // into the subvols given
	Err   error
}

func (e *ManyError) Error() string {
	return fmt.Sprintf("subvolume %d of the send: %v", e.Index+1, e.Err)
}

func (e *ManyError) Unwrap() error { return e.Err }

// SendMany writes the send of subvols to w, byte for byte what btrfs send
// writes for the same command line. With clone sources and no parent,
// each subvolume's parent is picked among them (FindParent) and every
// subvolume sent becomes a clone source of the next ones, as btrfs-progs
// does. Everything that can fail before a byte is written (parents, names:
// the top level cannot be sent) is checked before the first byte.
func SendMany(w io.Writer, subvols []*fstree.Subvol, opts ManyOptions) error {
	for i, sv := range subvols {
		if _, err := SubvolName(sv); err != nil {
			return &ManyError{i, err}
		}
	}
	pickParent := opts.Parent == nil && len(opts.Clones) > 0
	parents := make([]*fstree.Subvol, len(subvols))
	if pickParent {
		srcs := slices.Clip(opts.Clones)
		for i, sv := range subvols {
			p, err := FindParent(sv, srcs)
			if err != nil {
				return &ManyError{i, err}
			}
			parents[i] = p
			srcs = append(srcs, sv)
		}
	}
	for i, sv := range subvols {
		o := opts.Options
		if pickParent {
			o.Parent = parents[i]
			o.Clones = append(slices.Clip(opts.Clones), subvols[:i]...)
		}
		if opts.Chain {
			o.OmitHeader = i > 0
			o.OmitEnd = i < len(subvols)-1
		}
		if opts.Before != nil {
			opts.Before(i)
		}
		if err := Send(w, sv, o); err != nil {
			return &ManyError{i, err}
		}
	}
	return nil
}
