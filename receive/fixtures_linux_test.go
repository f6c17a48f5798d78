package receive_test

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/internal/treecmp"
	"github.com/coldsend/coldsend/receive"
	"github.com/coldsend/coldsend/stream"
)

// receiveFile receives the stream file (compressed or not) into dest.
func receiveFile(t *testing.T, file, dest string, opts receive.Options) (*receive.Summary, error) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src, _, err := stream.Decompress(f)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	return receive.Receive(src, dest, opts)
}

// destDir is a fresh destination, on tmpfs where /dev/shm offers one (it
// stores xattrs of any size; ext4 does not), removed when t ends.
func destDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "coldsend-receive-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestReceiveFixtures receives every kernel stream of every fixture (after
// the full streams of its parent and clone sources) into a directory and
// compares the tree with what the kernel's mount showed of the sent
// subvolume: names, types, modes, owners, sizes, contents, times, symlink
// targets, device numbers, xattrs and hard-link groups.
func TestReceiveFixtures(t *testing.T) {
	dirs, err := filepath.Glob("../fixtures/images/*")
	if err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0
	var received, skipped, ignoredXattrs int
	for _, dir := range dirs {
		sc, err := manifest.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		entries := map[string][]manifest.Entry{}
		for _, sv := range sc.Subvolumes {
			entries[sv.Path] = sv.Entries
		}
		for _, st := range sc.Streams {
			if st.NoData {
				continue
			}
			name := sc.Name + "/" + st.File
			dest := destDir(t)
			start := time.Now().UnixNano()
			chain, ok := sc.ReceiveChain(st)
			if !ok {
				skipped++
				continue
			}
			var details []receive.Skipped
			var sum *receive.Summary
			failed := false
			for _, c := range chain {
				if sum, err = receiveFile(t, filepath.Join(dir, c.File), dest, receive.Options{}); err != nil {
					t.Errorf("%s: receiving %s: %v", name, c.File, err)
					failed = true
					break
				}
				details = append(details, sum.Details...)
			}
			if failed {
				continue
			}
			want := treecmp.FromManifest(entries[st.Subvol])
			got, err := treecmp.Record(filepath.Join(dest, path.Base(st.Subvol)))
			if err != nil {
				t.Fatal(err)
			}
			opts := treecmp.Options{NoOwners: !root, Fresh: start}
			// What the destination could not take is compared as left out.
			// What the destination could not take is compared as left
			// out: xattrs by name (paths change between a base and the
			// snapshot made from it); nothing else may be missing.
			dropped := map[string]bool{}
			for _, d := range details {
				if d.Kind == receive.SkipXattrPriv || d.Kind == receive.SkipXattrSize || d.Kind == receive.SkipXattrFS {
					dropped[d.Xattr] = true
				} else {
					t.Errorf("%s: %s %s not applied: %v", name, d.Kind, d.Path, d.Err)
				}
			}
			opts.IgnoreXattr = func(n string) bool { return dropped[n] }
			if len(dropped) > 0 {
				ignoredXattrs++
			}
			if diffs := treecmp.Diff(want, got, opts, 5); len(diffs) > 0 {
				t.Errorf("%s: the received tree differs from the kernel's:\n%s\nsummary %v", name, strings.Join(diffs, "\n"), sum.Lines())
				continue
			}
			received++
		}
	}
	t.Logf("%d kernel streams received equal to the kernel's trees (%d without xattrs the destination refused); %d skipped (a base no stream makes)", received, ignoredXattrs, skipped)
	if received == 0 {
		t.Fatal("nothing received")
	}
}
