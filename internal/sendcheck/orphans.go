package sendcheck

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/streamdiff"
	"github.com/coldsend/coldsend/ondisk/volume"
	"github.com/coldsend/coldsend/sendgen"
)

// orphanSends are the kernel streams sendgen/testdata/orphans/make.sh
// records. The kernel sent a snapshot of the cleaned sv where coldsend
// sends sv itself, so the SUBVOL or SNAPSHOT commands differ (name, uuid,
// ctransid) and the rest must not.
var orphanSends = []struct{ stream, subvol, parent string }{
	{"sv.full", "sv", ""},
	{"sv.incr-sv.0", "sv", "sv.0"},
	{"sv.0.incr-sv", "sv.0", "sv"},
}

// Orphans checks the orphans test data in dir (see make.sh there):
// coldsend's sends from the image of the running system must equal the
// kernel's sends after it ran orphan cleanup, apart from the SUBVOL or
// SNAPSHOT command where the kernel had to send a new snapshot.
func Orphans(dir string) (checked int, err error) {
	dev, err := imagefile.Load(filepath.Join(dir, "orphans.img.zst"))
	if err != nil {
		return 0, err
	}
	fs, err := fstree.New([]*volume.Device{dev}, fstree.Options{})
	if err != nil {
		return 0, err
	}
	sv, err := fs.ResolveSubvol("sv")
	if err != nil {
		return 0, err
	}
	if o, err := sv.Orphans(); err != nil || o.Len() == 0 {
		return 0, fmt.Errorf("%s: subvolume sv holds no orphans to clean up (%v)", dir, err)
	}
	for _, o := range orphanSends {
		want, err := os.ReadFile(filepath.Join(dir, o.stream+".stream"))
		if err != nil {
			return checked, err
		}
		sv, err := fs.ResolveSubvol(o.subvol)
		if err != nil {
			return checked, err
		}
		var opts sendgen.Options
		if o.parent != "" {
			if opts.Parent, err = fs.ResolveSubvol(o.parent); err != nil {
				return checked, err
			}
		}
		var got bytes.Buffer
		if err := sendgen.Send(&got, sv, opts); err != nil {
			return checked, fmt.Errorf("%s: coldsend send: %w", o.stream, err)
		}
		d, err := DiffAfterFirstCommand(got.Bytes(), want)
		if err != nil {
			return checked, fmt.Errorf("%s: %w", o.stream, err)
		}
		if d != "" {
			return checked, fmt.Errorf("%s: coldsend's send of %s differs from the kernel's after orphan cleanup: %s", o.stream, o.subvol, d)
		}
		checked++
	}
	return checked, nil
}

// DiffAfterFirstCommand compares coldsend's stream got with the kernel's
// want apart from their first command, the SUBVOL or SNAPSHOT command,
// which names what was sent (the kernel had to send a snapshot where
// coldsend sends the subvolume itself): "" when the rest is identical,
// otherwise the first differing command.
func DiffAfterFirstCommand(got, want []byte) (string, error) {
	g, err := afterFirstCommand(got)
	if err != nil {
		return "", fmt.Errorf("coldsend: %w", err)
	}
	w, err := afterFirstCommand(want)
	if err != nil {
		return "", fmt.Errorf("kernel: %w", err)
	}
	if bytes.Equal(g, w) {
		return "", nil
	}
	// Both without their first command, behind the kernel's header.
	hdr := want[:17]
	return streamdiff.First(append(bytes.Clone(hdr), g...), append(bytes.Clone(hdr), w...)), nil
}

// afterFirstCommand cuts a stream's header and first command.
func afterFirstCommand(b []byte) ([]byte, error) {
	const header, cmdHeader = 17, 10
	if len(b) < header+cmdHeader {
		return nil, fmt.Errorf("stream of %d bytes has no first command", len(b))
	}
	end := header + cmdHeader + int(binary.LittleEndian.Uint32(b[header:]))
	if end > len(b) {
		return nil, fmt.Errorf("first command runs past the stream's %d bytes", len(b))
	}
	return b[end:], nil
}
