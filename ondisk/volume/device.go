package volume

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/coldsend/coldsend/ondisk"
)

// Device is one member of a filesystem: an image file, a block device or
// anything else that reads at offsets. Size bounds every read.
type Device struct {
	Name string
	R    io.ReaderAt
	Size int64
}

// OpenDeviceFile opens path read-only. The size comes from seeking to the
// end, which works for block devices where Stat reports 0.
func OpenDeviceFile(path string) (*Device, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, nil, &DeviceError{Device: path, What: "size query", Err: err}
	}
	return &Device{Name: path, R: f, Size: size}, f, nil
}

// readAt fills p from physical offset off of d, refusing reads outside the
// device.
func (d *Device) readAt(p []byte, off Physical, what string) error {
	size := Physical(max(d.Size, 0))
	if off > size || Physical(len(p)) > size-off {
		return &DeviceError{Device: d.Name, Offset: off, What: what,
			Err: fmt.Errorf("%w: %d bytes would end past the device end %d", ondisk.ErrCorrupt, len(p), d.Size)}
	}
	n, err := d.R.ReadAt(p, int64(min(off, 1<<63-1)))
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &DeviceError{Device: d.Name, Offset: off, What: what, Err: err}
}

// ReadSuperblock returns the superblock of d: the newest valid copy among
// the primary and the mirrors that fit on the device, considering only
// copies of the same filesystem as the first valid one. Normally that is
// the primary; when a mirror is used instead, or a copy is damaged, warn
// (if not nil) is told why. A primary without the btrfs magic means the
// device is not btrfs (mirrors may be leftovers of an earlier filesystem),
// so mirrors are only a fallback for a primary that is damaged; the error
// then says which copy ReadSuperblockCopy could be asked to trust.
func ReadSuperblock(d *Device, warn func(ondisk.Warning)) (*ondisk.Superblock, error) {
	warnf := superWarner(d, warn)
	var best *ondisk.Superblock
	var primaryErr error
	for i := range ondisk.SuperblockOffsets {
		sb, err := readSuperCopy(d, i)
		switch {
		case errors.Is(err, errSuperBeyondEnd):
			if i == 0 {
				primaryErr = notBtrfsf("device is only %d bytes, too short for a superblock", d.Size)
			}
		case err != nil && i == 0:
			primaryErr = err
			continue
		case err != nil:
			// A blank mirror slot is normal (for instance a sparse image
			// never written there); only damage is worth a warning.
			if !errors.Is(err, ondisk.ErrNotBtrfs) && primaryErr == nil {
				warnf("%s: superblock copy at byte offset %d is invalid: %v", d.Name, ondisk.SuperblockOffsets[i], err)
			}
			continue
		case best != nil && best.FSID != sb.FSID:
			warnf("%s: superblock copy at byte offset %d belongs to another filesystem (fsid %s); ignored", d.Name, ondisk.SuperblockOffsets[i], sb.FSID)
			continue
		}
		if errors.Is(err, errSuperBeyondEnd) {
			break
		}
		if best == nil || sb.Generation > best.Generation {
			best = sb
		}
	}
	if best != nil && errors.Is(primaryErr, ondisk.ErrNotBtrfs) {
		primaryErr = fmt.Errorf("%w (a superblock copy of generation %d remains at byte offset %d, probably from an earlier filesystem; --super %d trusts it)",
			primaryErr, best.Generation, best.Bytenr, superIndex(best.Bytenr))
		best = nil
	}
	if best == nil {
		if c := compressedAs(d); c != nil {
			primaryErr = fmt.Errorf("%w; the device starts like a %s file, so it is probably a compressed image: decompress it first ("+c.hint+")", primaryErr, c.name, d.Name)
		}
		return nil, &DeviceError{Device: d.Name, Offset: Physical(ondisk.SuperblockOffsets[0]), What: "no valid btrfs superblock", Err: primaryErr}
	}
	if primaryErr != nil {
		warnf("%s: primary superblock at byte offset %d is invalid (%v); using the copy at byte offset %d (generation %d)",
			d.Name, ondisk.SuperblockOffsets[0], primaryErr, best.Bytenr, best.Generation)
	} else if best.Bytenr != uint64(ondisk.SuperblockOffsets[0]) {
		warnf("%s: superblock copy at byte offset %d has generation %d, newer than the primary; using it",
			d.Name, best.Bytenr, best.Generation)
	}
	return best, nil
}

// ReadSuperblockCopy returns copy i of d's superblock (0 the primary at 64
// KiB, 1 and 2 the mirrors at 64 MiB and 256 GiB), as `btrfs check
// --super` and `btrfs restore -u` read one: that copy must be valid, and
// warn (if not nil) is told when another copy of the same filesystem is
// newer, since the trees of an older copy may since have been overwritten.
func ReadSuperblockCopy(d *Device, i int, warn func(ondisk.Warning)) (*ondisk.Superblock, error) {
	if i < 0 || i >= len(ondisk.SuperblockOffsets) {
		return nil, fmt.Errorf("superblock copy %d does not exist: copies are 0 (primary), 1 and 2", i)
	}
	sb, err := readSuperCopy(d, i)
	if err != nil {
		return nil, &DeviceError{Device: d.Name, Offset: Physical(ondisk.SuperblockOffsets[i]), What: fmt.Sprintf("superblock copy %d", i), Err: err}
	}
	if warn != nil {
		warnf := superWarner(d, warn)
		for j := range ondisk.SuperblockOffsets {
			if other, err := readSuperCopy(d, j); j != i && err == nil && other.FSID == sb.FSID && other.Generation > sb.Generation {
				warnf("%s: using superblock copy %d (generation %d) as asked, though copy %d at byte offset %d is newer (generation %d)",
					d.Name, i, sb.Generation, j, other.Bytenr, other.Generation)
			}
		}
	}
	return sb, nil
}

// errSuperBeyondEnd: the device is too small to hold that copy.
var errSuperBeyondEnd = errors.New("superblock copy lies past the device end")

// readSuperCopy reads and checks copy i of d's superblock.
func readSuperCopy(d *Device, i int) (*ondisk.Superblock, error) {
	off := ondisk.SuperblockOffsets[i]
	if off+ondisk.SuperblockSize > d.Size {
		return nil, fmt.Errorf("%w (device is %d bytes)", errSuperBeyondEnd, d.Size)
	}
	buf := make([]byte, ondisk.SuperblockSize)
	if err := d.readAt(buf, Physical(off), "superblock"); err != nil {
		return nil, err
	}
	sb, err := ondisk.ParseSuperblock(buf)
	if err == nil && sb.Bytenr != uint64(off) {
		err = corruptf("copy records bytenr %d, so it is stale", sb.Bytenr)
	}
	return sb, err
}

// superIndex is the copy number of the superblock at byte offset off.
func superIndex(off uint64) int {
	for i, o := range ondisk.SuperblockOffsets {
		if uint64(o) == off {
			return i
		}
	}
	return -1
}

// superWarner returns a printf-style reporter of superblock warnings about
// d, or one that discards them when warn is nil.
func superWarner(d *Device, warn func(ondisk.Warning)) func(format string, args ...any) {
	return func(format string, args ...any) {
		if warn != nil {
			warn(ondisk.Warning{Kind: ondisk.WarnSuperblock, Device: d.Name, Msg: fmt.Sprintf(format, args...)})
		}
	}
}

// compression is a compressed-file format someone may hand over instead
// of the image inside it.
type compression struct {
	magic, name string
	hint        string // the command that decompresses it, %s the file
}

var compressions = []compression{
	{"\x28\xb5\x2f\xfd", "zstd", "zstd -d %s"},
	{"\x1f\x8b", "gzip", "gunzip %s"},
	{"\xfd7zXZ\x00", "xz", "unxz %s"},
	{"BZh", "bzip2", "bunzip2 %s"},
	{"\x04\x22\x4d\x18", "lz4", "lz4 -d %s IMAGE"},
}

// compressedAs returns the compression format d's first bytes announce,
// or nil. A btrfs device's first 64 KiB are unused, usually zero.
func compressedAs(d *Device) *compression {
	var head [6]byte
	if d.Size < int64(len(head)) {
		return nil
	}
	if n, _ := d.R.ReadAt(head[:], 0); n < len(head) {
		return nil
	}
	for i := range compressions {
		if strings.HasPrefix(string(head[:]), compressions[i].magic) {
			return &compressions[i]
		}
	}
	return nil
}
