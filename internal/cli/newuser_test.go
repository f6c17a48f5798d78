package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coldsend/coldsend/internal/imagefile"
)

// TestGetoptFlags: the spellings btrfs-progs users type give the same
// stream: grouped short flags with a value (-qf FILE), a value glued to
// its flag (-pPARENT), --long=value, and flags after the arguments.
func TestGetoptFlags(t *testing.T) {
	img := concatImage(t)
	dir := t.TempDir()
	var want []byte
	for i, args := range [][]string{
		{"send", "-q", "-f", "F", "-p", "s1", "--proto", "2", img, "s2"},
		{"send", "-qf", "F", "-ps1", "--proto=2", img, "s2"},
		{"send", img, "s2", "-qfF", "--parent=s1", "--proto=2"},
		{"send", "--quiet", "--file=F", img, "-p", "s1", "s2", "--proto", "2"},
	} {
		out := filepath.Join(dir, "stream")
		for j := range args {
			if args[j] == "F" || strings.HasSuffix(args[j], "F") && strings.HasPrefix(args[j], "-") {
				args[j] = strings.TrimSuffix(args[j], "F") + out
			}
		}
		args = replaceAll(args, "--file=F", "--file="+out)
		st, _, errOut := runCLI(args...)
		got, err := os.ReadFile(out)
		if st != 0 || err != nil || errOut != "" {
			t.Fatalf("%v: status %d, %v, stderr %q", args, st, err, errOut)
		}
		if i == 0 {
			want = got
		} else if !bytes.Equal(got, want) {
			t.Errorf("%v: %d bytes differ from the plain spelling's %d", args, len(got), len(want))
		}
		os.Remove(out)
	}
	if len(want) < 100 || want[13] != 2 {
		t.Errorf("not a protocol 2 stream: %d bytes", len(want))
	}
}

func replaceAll(a []string, old, new string) []string {
	for i := range a {
		if a[i] == old {
			a[i] = new
		}
	}
	return a
}

// TestPathsThroughFiles: a trailing '/' after a file, or a path going
// through one, is "not a directory"; after a directory it is fine.
func TestPathsThroughFiles(t *testing.T) {
	img, _ := unpackFixture(t)
	for _, tc := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"ls", img, "vol.3/medium.txt/"}, 1, "vol.3/medium.txt/: not a directory (at \"vol.3/medium.txt\")"},
		{[]string{"cat", img, "vol.3/medium.txt/"}, 1, "not a directory"},
		{[]string{"ls", img, "vol.3/medium.txt/x"}, 1, "vol.3/medium.txt/x: not a directory"},
		{[]string{"cat", img, "vol.3/medium.txt/."}, 1, "not a directory"},
		{[]string{"ls", img, "vol.3/nosuch"}, 1, "no such file or directory"},
		{[]string{"ls", img, "vol.3/"}, 0, ""},
		{[]string{"cat", img, "vol.3/medium.txt"}, 0, ""},
	} {
		st, out, errOut := runCLI(tc.args...)
		if st != tc.status || !strings.Contains(errOut, tc.want) || tc.status != 0 && (out != "" || strings.Count(errOut, "\n") != 1) {
			t.Errorf("%v: status %d, stdout %d bytes, stderr %q; want %d and %q", tc.args[1:], st, len(out), errOut, tc.status, tc.want)
		}
	}
}

// TestNoDataCsumWhereMeaningful: --no-data-csum is an option of the
// commands that read file data, and unknown elsewhere.
func TestNoDataCsumWhereMeaningful(t *testing.T) {
	img, _ := unpackFixture(t)
	if st, _, errOut := runCLI("cat", "--no-data-csum", img, "vol.3/medium.txt"); st != 0 {
		t.Errorf("cat --no-data-csum: %d %q", st, errOut)
	}
	for _, cmd := range [][]string{{"show"}, {"ls"}, {"subvolume", "list"}} {
		args := append(append(cmd, "--no-data-csum", img), "/")
		if cmd[0] != "ls" {
			args = args[:len(args)-1]
		}
		if st, _, errOut := runCLI(args...); st != 2 || !strings.Contains(errOut, "unknown flag: --no-data-csum") {
			t.Errorf("%v: status %d, %q", cmd, st, errOut)
		}
	}
}

// TestLsTimes: ls -l shows local time (the zone TZ names), --utc UTC,
// and --time-style full-iso (or --full-time) nanoseconds and the offset.
func TestLsTimes(t *testing.T) {
	img, sc := unpackFixture(t)
	var mtime int64
	for _, sv := range sc.Subvolumes {
		if sv.Path == "vol.3" {
			for _, e := range sv.Entries {
				if string(e.Path) == "medium.txt" {
					mtime = e.Mtime
				}
			}
		}
	}
	if mtime == 0 {
		t.Fatal("no mtime for vol.3/medium.txt in the manifest")
	}
	kernel := time.Unix(0, mtime)
	stJohns, err := time.LoadLocation("America/St_Johns")
	if err != nil {
		t.Skipf("no tz database here: %v", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-l"}, kernel.In(stJohns).Format("2006-01-02 15:04:05") + " medium.txt"},
		{[]string{"-l", "--utc"}, kernel.UTC().Format("2006-01-02 15:04:05") + " medium.txt"},
		{[]string{"-l", "--time-style", "full-iso"}, kernel.In(stJohns).Format("2006-01-02 15:04:05.000000000 -0700") + " medium.txt"},
		{[]string{"--full-time", "--utc"}, kernel.UTC().Format("2006-01-02 15:04:05.000000000 +0000") + " medium.txt"},
		{[]string{"-l", "--time-style=long-iso"}, kernel.In(stJohns).Format("2006-01-02 15:04") + " medium.txt"},
	} {
		var o, e bytes.Buffer
		args := append(append([]string{"ls"}, tc.args...), img, "vol.3/medium.txt")
		st := run(&env{stdin: strings.NewReader(""), stdout: &outWriter{w: &o}, rawStdout: &o, stderr: &e, local: stJohns}, args)
		if st != 0 || !strings.HasSuffix(strings.TrimSpace(o.String()), tc.want) {
			t.Errorf("%v: status %d, %q, want it to end with %q (stderr %q)", tc.args, st, o.String(), tc.want, e.String())
		}
	}
	if st, _, errOut := runCLI("ls", "-l", "--time-style", "locale", img, "/"); st != 2 || !strings.Contains(errOut, "want default, full-iso or long-iso") {
		t.Errorf("--time-style locale: %d %q", st, errOut)
	}
}

// TestSubvolumeList: the columns and filters of btrfs subvolume list, and
// JSON with null for what is absent.
func TestSubvolumeList(t *testing.T) {
	img, _ := unpackFixture(t)
	st, out, errOut := runCLI("subvolume", "list", "--json", img)
	if st != 0 {
		t.Fatalf("status %d: %s", st, errOut)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) == 0 {
		t.Fatalf("%v: %s", err, out)
	}
	for _, r := range rows {
		for _, k := range []string{"id", "generation", "cgen", "top_level", "otime", "flags", "path", "uuid", "parent_uuid", "received_uuid", "readonly", "snapshot"} {
			if _, ok := r[k]; !ok {
				t.Errorf("row %v has no %q", r["id"], k)
			}
		}
		if r["received_uuid"] != nil || r["uuid"] == nil || r["otime"] == nil {
			t.Errorf("row %v: uuid %v, received_uuid %v (want null), otime %v", r["id"], r["uuid"], r["received_uuid"], r["otime"])
		}
		if r["snapshot"] == true && r["parent_uuid"] == nil {
			t.Errorf("snapshot %v without a parent uuid", r["id"])
		}
	}
	count := func(args ...string) int {
		st, out, errOut := runCLI(append(append([]string{"subvolume", "list", "--json"}, args...), img)...)
		var rows []map[string]any
		if st != 0 || json.Unmarshal([]byte(out), &rows) != nil {
			t.Fatalf("%v: status %d %q", args, st, errOut)
		}
		return len(rows)
	}
	all, snaps, ro := count(), count("-s"), count("-r")
	if snaps == 0 || snaps >= all || ro == 0 {
		t.Errorf("%d subvolumes, %d snapshots (-s), %d read-only (-r)", all, snaps, ro)
	}
	topLevel := 0
	for _, r := range rows {
		if r["top_level"] == float64(5) {
			topLevel++
		}
	}
	if n := count("-o"); n != topLevel || n == all {
		t.Errorf("-o at the top level lists %d, %d of the %d have top level 5", n, topLevel, all)
	}
	st, out, _ = runCLI("subvolume", "list", "--sort=-rootid", img)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if st != 0 || len(lines) != all+1 || !strings.HasPrefix(lines[0], "ID     gen    cgen   top level otime") {
		t.Fatalf("--sort=-rootid: status %d\n%s", st, out)
	}
	if strings.Fields(lines[1])[0] <= strings.Fields(lines[len(lines)-1])[0] {
		t.Errorf("--sort=-rootid is not descending:\n%s", out)
	}
	for _, bad := range [][]string{{"--sort", "size"}, {img, "vol.1"}} {
		args := append([]string{"subvolume", "list"}, bad...)
		if bad[0] == "--sort" {
			args = append(args, img)
		}
		if st, _, errOut := runCLI(args...); st != 2 {
			t.Errorf("%v: status %d %q", bad, st, errOut)
		}
	}
}

// TestSubvolumeShow: the fields of btrfs subvolume show, for a snapshot
// and the top level.
func TestSubvolumeShow(t *testing.T) {
	img := concatImage(t)
	st, out, errOut := runCLI("subvolume", "show", img, "s1")
	if st != 0 {
		t.Fatalf("status %d: %s", st, errOut)
	}
	for _, field := range []string{"s1\n", "\tName: \t\t\ts1\n", "\tUUID: \t\t\t", "\tParent UUID: \t\t", "\tReceived UUID: \t\t-\n", "\tCreation time: \t\t",
		"\tSubvolume ID: \t\t", "\tGeneration: \t\t", "\tGen at creation: \t", "\tParent ID: \t\t5\n", "\tTop level ID: \t\t5\n", "\tFlags: \t\t\treadonly\n",
		"\tSend transid: \t\t0\n", "\tReceive transid: \t0\n", "\tReceive time: \t\t-\n", "\tSnapshot(s):\n"} {
		if !strings.Contains(out, field) {
			t.Errorf("no %q in\n%s", field, out)
		}
	}
	st, out, _ = runCLI("subvolume", "show", img, "/")
	if st != 0 || !strings.HasPrefix(out, "/\n\tName: \t\t\t<FS_TREE>\n") || !strings.Contains(out, "\tParent ID: \t\t0\n") {
		t.Errorf("top level: status %d\n%s", st, out)
	}
}

// TestCompressedImage: show on a compressed image says so and how to
// decompress it, rather than only "bad magic".
func TestCompressedImage(t *testing.T) {
	zst := filepath.Join(fixtureDir, "dev0.img.zst")
	st, _, errOut := runCLI("show", zst)
	if st != 1 || !strings.Contains(errOut, "starts like a zstd file, so it is probably a compressed image: decompress it first (zstd -d "+zst+")") {
		t.Errorf("status %d, %q", st, errOut)
	}
}

// TestRepairWarnings: a RAID1 device whose copies are wiped over a large
// region is read through the other copy; the first repairs are reported,
// then a count at the end, and -v reports every one.
func TestRepairWarnings(t *testing.T) {
	paths, err := imagefile.Unpack("../../fixtures/images/raid1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(paths[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	// Everything past the first MiB (the superblock and what precedes
	// the chunks stay).
	if _, err := f.WriteAt(make([]byte, st.Size()-(1<<20)), 1<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	args := []string{"ls", "-R", "-l", "--device", paths[1], paths[0], "/"}
	status, out, errOut := runCLI(args...)
	warnings := strings.Count(errOut, "coldsend: warning:")
	if status != 0 || out == "" || warnings != maxRepairWarnings+1 || !strings.Contains(errOut, "further repairs are counted") {
		t.Fatalf("status %d, %d warning lines:\n%s", status, warnings, errOut)
	}
	summary := errOut[strings.LastIndex(strings.TrimSpace(errOut), "\n")+1:]
	if st2, _, _ := runCLI(append([]string{"-v"}, args...)...); st2 != 2 {
		// -v belongs to the subcommand; before it, it is a usage error.
		t.Errorf("coldsend -v ls: status %d", st2)
	}
	st2, out2, errV := runCLI(append(args[:1:1], append([]string{"-v"}, args[1:]...)...)...)
	all := strings.Count(errV, "coldsend: warning:")
	if st2 != 0 || out2 != out || all <= warnings {
		t.Errorf("-v: status %d, %d warning lines (%d without -v)", st2, all, warnings)
	}
	t.Logf("%d repairs reported one by one with -v; without: %d lines, ending %q", all-1, warnings, strings.TrimSpace(summary))
}
