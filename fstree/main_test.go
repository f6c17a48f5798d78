package fstree_test

import (
	"os"
	"testing"

	"github.com/coldsend/coldsend/internal/imagefile"
)

// tinyImage is the image file the examples open: the tiny fixture's one
// device, unpacked.
var tinyImage string

func TestMain(m *testing.M) {
	os.Exit(imagefile.RunWithImages(m, "../fixtures/images/tiny", func(paths []string) { tinyImage = paths[0] }))
}
