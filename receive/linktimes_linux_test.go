package receive

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coldsend/coldsend/internal/destfs"
	"github.com/coldsend/coldsend/stream"
)

// TestLinkTimes reads a parent's symbolic link as the snapshot copy does
// (its times stay as they were, the journal ends empty), then plays a
// receive killed between the read and the restore: the link's access time
// is the read's, the journal names the old one, and the next receive's
// restoreLinkTimes puts it back and removes the journal.
func TestLinkTimes(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := root.Mkdir("p", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := root.Symlink("target", "p/l"); err != nil {
		t.Fatal(err)
	}
	old := time.Unix(1_600_000_000, 123456789)
	if err := destfs.Utimes(root, "p/l", old, old); err != nil {
		t.Fatal(err)
	}
	times := func() (time.Time, time.Time) {
		fi, err := root.Lstat("p/l")
		if err != nil {
			t.Fatal(err)
		}
		return destfs.TimesOf(fi)
	}

	fi, err := root.Lstat("p/l")
	if err != nil {
		t.Fatal(err)
	}
	c := &treeCopy{dest: root}
	target, err := c.readLink("p/l", fi)
	if err != nil || target != "target" {
		t.Fatalf("readLink: %q, %v", target, err)
	}
	if a, m := times(); !a.Equal(old) || !m.Equal(old) {
		t.Fatalf("after the copy's read: atime %v, mtime %v, want both %v", a, m, old)
	}
	if b, err := root.ReadFile(LinkTimesName); err != nil || len(b) != 0 {
		t.Fatalf("journal after a finished read: %q, %v; want it empty", b, err)
	}
	c.pending.Close()

	// Killed after the read: the journal holds the old times, the link
	// has the read's.
	fresh := time.Now()
	if err := destfs.Utimes(root, "p/l", fresh, old); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, LinkTimesName), []byte(`{"Path":"p/l","Atime":1600000000123456789,"Mtime":1600000000123456789}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := restoreLinkTimes(root); err != nil {
		t.Fatal(err)
	}
	if a, _ := times(); !a.Equal(old) {
		t.Fatalf("after restoreLinkTimes: atime %v, want %v", a, old)
	}
	if _, err := root.Lstat(LinkTimesName); !os.IsNotExist(err) {
		t.Fatalf("the journal is still there: %v", err)
	}
	// No journal: nothing to do. A damaged one: an error naming it.
	if err := restoreLinkTimes(root); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, LinkTimesName), []byte(`{"Path":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := restoreLinkTimes(root); err == nil || !strings.Contains(err.Error(), LinkTimesName) {
		t.Fatalf("damaged journal: %v, want an error naming %s", err, LinkTimesName)
	}
}

// TestTimesClamped: a time outside 32-bit seconds is looked at again after
// utimensat; one the filesystem did not keep is reported, one it kept is
// not, and times inside 32-bit seconds are never looked at.
func TestTimesClamped(t *testing.T) {
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := root.WriteFile("f", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	y2100 := stream.Timespec{Sec: 4102444800, Nsec: 5}
	if err := destfs.Utimes(root, "f", toTime(y2100), toTime(y2100)); err != nil {
		t.Fatal(err)
	}
	// What a clamping filesystem would have kept instead of 1800.
	y1800 := stream.Timespec{Sec: -5364662400}
	if clamped, err := timesClamped(root, "f", y1800, y1800); err != nil || !clamped {
		t.Errorf("times not kept: clamped %v, %v; want true", clamped, err)
	}
	if clamped, err := timesClamped(root, "missing", stream.Timespec{Sec: 1}, stream.Timespec{Sec: 2}); err != nil || clamped {
		t.Errorf("32-bit times: clamped %v, %v; want false without a look", clamped, err)
	}
	fi, err := root.Lstat("f")
	if err != nil {
		t.Fatal(err)
	}
	if _, m := destfs.TimesOf(fi); !m.Equal(toTime(y2100)) {
		t.Skipf("the test directory's filesystem does not store 2100 (%v)", m)
	}
	if clamped, err := timesClamped(root, "f", y2100, y2100); err != nil || clamped {
		t.Errorf("times kept: clamped %v, %v; want false", clamped, err)
	}
}
