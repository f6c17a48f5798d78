package cli

import (
	"fmt"
	"io"
	"sync"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
)

// maxRepairWarnings bounds the repairs printed one by one: a wiped device
// makes one per stripe read, and the summary at the end says more than
// thousands of lines.
const maxRepairWarnings = 10

// warnPrinter prints warnings on stderr, the first maxRepairWarnings
// repairs one by one (all of them when verbose).
type warnPrinter struct {
	w       io.Writer
	verbose bool
	mu      sync.Mutex
	repairs int
}

func (p *warnPrinter) warn(w ondisk.Warning) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.Kind == ondisk.WarnRepair {
		p.repairs++
		switch {
		case p.verbose || p.repairs < maxRepairWarnings:
		case p.repairs == maxRepairWarnings:
			w.Msg += "; further repairs are counted, not reported one by one"
		default:
			return
		}
	}
	fmt.Fprintf(p.w, "coldsend: warning: %s\n", w.Msg)
}

// openedFS is a filesystem opened for a command.
type openedFS struct {
	*fstree.FS
	stderr io.Writer
}

// Close closes the devices, after summing up the reads that had to be
// repaired from other copies or parity, if any.
func (o *openedFS) Close() error {
	if sum := o.Volume().RepairSummary(); sum != "" {
		fmt.Fprintf(o.stderr, "coldsend: warning: %s\n", sum)
	}
	return o.FS.Close()
}

// open opens image plus any --device paths, read-only, and the
// filesystem on them; warnings go to stderr, and a warning first if the
// filesystem is mounted read-write right now.
func (f *fsFlags) open(image string, stderr io.Writer) (*openedFS, error) {
	p := &warnPrinter{w: stderr, verbose: f.verbose}
	opts, err := f.options(p.warn)
	if err != nil {
		return nil, err
	}
	paths := append([]string{image}, f.devices...)
	fs, err := fstree.OpenFiles(paths, opts)
	if err != nil {
		return nil, err
	}
	for _, m := range mountedReadWrite(paths) {
		fmt.Fprintf(stderr, "coldsend: warning: %s is mounted read-write at %s right now: what is read may be inconsistent (unmount it, or read a snapshot of it)\n", m.path, m.mountPoint)
	}
	return &openedFS{FS: fs, stderr: stderr}, nil
}

// withPath opens image, resolves path (SUBVOL[/PATH]) on it and calls fn
// with what it names, closing the devices afterwards.
func (f *fsFlags) withPath(image, path string, stderr io.Writer, fn func(loc fstree.Location) error) error {
	fs, err := f.open(image, stderr)
	if err != nil {
		return err
	}
	defer fs.Close()
	loc, err := fs.Resolve(path)
	if err != nil {
		return err
	}
	return fn(loc)
}
