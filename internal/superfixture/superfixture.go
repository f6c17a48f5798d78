package superfixture

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Names are the fixtures made by ondisk/testdata/make.sh; the progs version
// is part of the file names.
var Names = []string{"crc32c", "xxhash", "sha256", "blake2", "metadata-uuid", "raid10-devid3", "mixed"}

// Path is the file of fixture name with extension ext (".bin" or
// ".dump-super.txt").
func Path(tb testing.TB, name, ext string) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "ondisk", "testdata", "sb-progs6.2-"+name+ext)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("superfixture: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Read returns the 4 KiB superblock of fixture name.
func Read(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(Path(tb, name, ".bin"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Dump is what "btrfs inspect-internal dump-super -f" printed for a
// fixture.
type Dump struct {
	Fields  map[string]string // top-level "name value" lines, value verbatim
	Chunks  []map[string]string
	Stripes [][]map[string]string
	Backups []map[string]string
}

var (
	dumpField  = regexp.MustCompile(`^([a-z_.]+(?: \(deprecated\))?)\t+(.*)$`)
	dumpPairs  = regexp.MustCompile(`([a-z_]+) (\S+)`)
	dumpBackup = regexp.MustCompile(`^\t\t(\w+):\t+(\d+)(?:\tgen: (\d+)\tlevel: (\d+))?$`)
	dumpKey    = regexp.MustCompile(`^\titem \d+ key \(FIRST_CHUNK_TREE CHUNK_ITEM (\d+)\)$`)
)

// ParseDump reads the dump-super output of fixture name.
func ParseDump(tb testing.TB, name string) *Dump {
	tb.Helper()
	f, err := os.Open(Path(tb, name, ".dump-super.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	d := &Dump{Fields: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case dumpField.MatchString(line):
			m := dumpField.FindStringSubmatch(line)
			d.Fields[m[1]] = m[2]
		case dumpKey.MatchString(line):
			d.Chunks = append(d.Chunks, map[string]string{"logical": dumpKey.FindStringSubmatch(line)[1]})
			d.Stripes = append(d.Stripes, nil)
		case strings.HasPrefix(line, "\tbackup "):
			d.Backups = append(d.Backups, map[string]string{})
		case len(d.Backups) > 0 && dumpBackup.MatchString(line):
			m := dumpBackup.FindStringSubmatch(line)
			d.Backups[len(d.Backups)-1][m[1]] = m[2]
			if m[3] != "" {
				d.Backups[len(d.Backups)-1][m[1]+".gen"] = m[3]
				d.Backups[len(d.Backups)-1][m[1]+".level"] = m[4]
			}
		case len(d.Chunks) > 0 && len(d.Backups) == 0 && strings.HasPrefix(line, "\t\t\tstripe "):
			s := map[string]string{}
			for _, m := range dumpPairs.FindAllStringSubmatch(line, -1) {
				s[m[1]] = m[2]
			}
			i := len(d.Chunks) - 1
			d.Stripes[i] = append(d.Stripes[i], s)
		case len(d.Chunks) > 0 && len(d.Backups) == 0 && strings.HasPrefix(line, "\t\t\tdev_uuid "):
			i := len(d.Chunks) - 1
			d.Stripes[i][len(d.Stripes[i])-1]["dev_uuid"] = strings.TrimPrefix(line, "\t\t\tdev_uuid ")
		case len(d.Chunks) > 0 && len(d.Backups) == 0 && strings.HasPrefix(line, "\t\t"):
			for _, m := range dumpPairs.FindAllStringSubmatch(line, -1) {
				d.Chunks[len(d.Chunks)-1][m[1]] = m[2]
			}
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return d
}

// Word returns the first word of a dump value ("0 (crc32c)" -> "0").
func Word(v string) string {
	if i := strings.IndexAny(v, " \t"); i >= 0 {
		return v[:i]
	}
	return v
}
