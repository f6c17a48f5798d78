package sendgen

import (
	"fmt"
	"io"
	"math"
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
	_, err := sendMany(w, subvols, opts)
	return err
}

// Size returns the exact size of what SendMany would write, per
// subvolume, without reading file data or writing anything: --size, and
// the total of a progress report.
func Size(subvols []*fstree.Subvol, opts ManyOptions) ([]Stats, error) {
	opts.Skip = math.MaxInt64
	opts.Before = nil
	opts.Workers = 1 // nothing is read or written
	return sendMany(io.Discard, subvols, opts)
}

// sendMany is SendMany, counting what each subvolume's part made;
// opts.Skip counts over the whole output.
func sendMany(w io.Writer, subvols []*fstree.Subvol, opts ManyOptions) ([]Stats, error) {
	for i, sv := range subvols {
		if _, err := SubvolName(sv); err != nil {
			return nil, &ManyError{i, err}
		}
	}
	pickParent := opts.Parent == nil && len(opts.Clones) > 0
	parents := make([]*fstree.Subvol, len(subvols))
	if pickParent {
		srcs := slices.Clip(opts.Clones)
		for i, sv := range subvols {
			p, err := FindParent(sv, srcs)
			if err != nil {
				return nil, &ManyError{i, err}
			}
			parents[i] = p
			srcs = append(srcs, sv)
		}
	}
	var stats []Stats
	skip := opts.Skip
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
		o.Skip = skip
		if check, base := opts.SkipCheck, opts.Skip-skip; check != nil {
			o.SkipCheck = func(off int64, b []byte, data int) error { return check(base+off, b, data) }
		}
		if opts.Before != nil {
			opts.Before(i)
		}
		st, err := send(w, sv, o)
		stats = append(stats, st)
		if err != nil {
			return stats, &ManyError{i, err}
		}
		skip = max(0, skip-st.Bytes)
	}
	return stats, nil
}
