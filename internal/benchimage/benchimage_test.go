package benchimage

import "testing"

// TestID pins the stamp's build description: images cached before this
// package existed (fstree's walk and data images) must still match.
func TestID(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Size: 2 << 30}, `format=2 size=2147483648 mkfs=[] mount=""`},
		{Spec{Size: 3 << 30, Mount: "compress-force=zstd"}, `format=2 size=3221225472 mkfs=[] mount="compress-force=zstd"`},
		{Spec{Size: 1 << 30, Mkfs: []string{"-n", "64k"}, Version: 3}, `format=2 version=3 size=1073741824 mkfs=["-n" "64k"] mount=""`},
	} {
		if got := tc.spec.ID(); got != tc.want {
			t.Errorf("ID() = %s, want %s", got, tc.want)
		}
	}
}
