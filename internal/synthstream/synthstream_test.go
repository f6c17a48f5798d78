package synthstream

import (
	"testing"

	"github.com/coldsend/coldsend/stream/validate"
)

// The benchmark streams must be streams a receiver accepts.
func TestValid(t *testing.T) {
	for _, v := range []uint32{1, 2} {
		src, err := New(20<<20, v)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := validate.Stream(src)
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if sum.Bytes < 20<<20 || sum.Commands < 400 {
			t.Errorf("v%d: %+v", v, sum)
		}
	}
}
