package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// The concat test data are kernel streams of two subvolumes sent by one
// `btrfs send`, without -e (two complete streams) and with -e (one stream),
// and the btrfs-progs v6.2 dumps of them (testdata/concat/make.sh).
const concatDir = "testdata/concat"

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(concatDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// utc renders times in UTC, as the recorded dumps were made.
func utc(t *testing.T) {
	saved := time.Local
	time.Local = time.UTC
	t.Cleanup(func() { time.Local = saved })
}

func runCLIStdin(stdin []byte, args ...string) (status int, stdout, stderr string) {
	var o, e bytes.Buffer
	status = Run(args, bytes.NewReader(stdin), &o, &e)
	return status, o.String(), e.String()
}

func TestDumpConcatenated(t *testing.T) {
	utc(t)
	if v := strings.TrimSpace(string(readTestdata(t, "progs-version"))); v != "btrfs-progs v6.2" {
		t.Fatalf("test data made with %q", v)
	}
	noe := filepath.Join(concatDir, "noe.stream")
	both := string(readTestdata(t, "noe.1.dump")) + string(readTestdata(t, "noe.2.dump"))
	var zst bytes.Buffer
	enc, _ := zstd.NewWriter(&zst)
	enc.Write(readTestdata(t, "noe.stream"))
	enc.Close()
	for _, tc := range []struct {
		name  string
		stdin []byte
		args  []string
		want  string
	}{
		{"every stream", nil, []string{"dump", noe}, both},
		{"--first as btrfs receive --dump", nil, []string{"dump", "--first", noe}, string(readTestdata(t, "noe.dump"))},
		{"-f", nil, []string{"dump", "-f", noe}, both},
		{"-e framing", nil, []string{"dump", filepath.Join(concatDir, "e.stream")}, string(readTestdata(t, "e.dump"))},
		{"zstd on stdin", zst.Bytes(), []string{"dump", "-"}, both},
		{"stdin by default", readTestdata(t, "noe.stream"), []string{"dump"}, both},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, out, errOut := runCLIStdin(tc.stdin, tc.args...)
			if st != 0 || out != tc.want {
				t.Errorf("status %d stderr %q; output matches btrfs-progs: %v", st, errOut, out == tc.want)
			}
		})
	}
}

func TestDumpJSON(t *testing.T) {
	st, out, errOut := runCLI("dump", "--json", filepath.Join(concatDir, "noe.stream"))
	if st != 0 {
		t.Fatalf("status %d: %s", st, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	streams := map[float64]bool{}
	for i, l := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("line %d %q: %v", i+1, l, err)
		}
		if obj["index"] != float64(i+1) {
			t.Errorf("line %d has index %v", i+1, obj["index"])
		}
		streams[obj["stream"].(float64)] = true
	}
	if !streams[1] || !streams[2] || len(streams) != 2 {
		t.Errorf("streams %v", streams)
	}
}

func TestValidateCLI(t *testing.T) {
	good := readTestdata(t, "noe.stream")
	st, out, errOut := runCLIStdin(good, "validate")
	if st != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "2 stream(s)") || !strings.Contains(out, "s1, s2") {
		t.Errorf("status %d stdout %q stderr %q", st, out, errOut)
	}
	bad := bytes.Clone(good)
	bad[200] ^= 0x40
	st, out, errOut = runCLIStdin(bad, "validate", "-")
	if st != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "stream offset") || !strings.Contains(errOut, "command") {
		t.Errorf("corrupt stream: status %d stdout %q stderr %q", st, out, errOut)
	}
}

func TestStreamBadInput(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x")
	os.WriteFile(p, []byte("definitely not a send stream"), 0o644)
	good := readTestdata(t, "noe.stream")
	for _, tc := range []struct {
		stdin  []byte
		args   []string
		status int
		want   string
	}{
		{nil, []string{"dump", p}, 1, "stream offset 0, stream header: not a btrfs send stream"},
		{nil, []string{"dump", filepath.Join(dir, "absent")}, 1, "no such file"},
		{nil, []string{"dump"}, 1, "empty input"},
		{good[:len(good)-5], []string{"dump"}, 1, "stream truncated"},
		{good[:100], []string{"validate"}, 1, "stream truncated"},
		{nil, []string{"dump", "-f", p, p}, 2, "not both"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			st, _, errOut := runCLIStdin(tc.stdin, tc.args...)
			if st != tc.status || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("status %d stderr %q, want one line with %q", st, errOut, tc.want)
			}
		})
	}
}
