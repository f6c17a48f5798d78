package export

import "testing"

// TestPAXXattrKey: GNU tar's encoding of xattr names in PAX keys, which
// it decodes on extraction (the oracle extracts with it).
func TestPAXXattrKey(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"user.a", "SCHILY.xattr.user.a"},
		{"user.a=b,c;d", "SCHILY.xattr.user.a%3Db,c;d"},
		{"user.50%", "SCHILY.xattr.user.50%25"},
		{"user.%3D", "SCHILY.xattr.user.%253D"},
	} {
		if got := PAXXattrKey([]byte(tc.name)); got != tc.want {
			t.Errorf("PAXXattrKey(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
