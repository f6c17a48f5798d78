package cli

import (
	"io"
	"strings"

	"github.com/spf13/cobra/doc"
)

// ManPages writes a man page per command (coldsend.1, coldsend-send.1,
// ...) into dir.
func ManPages(dir string) error {
	root, _ := newRoot(&env{stdin: strings.NewReader(""), stdout: &outWriter{w: io.Discard}, rawStdout: io.Discard, stderr: io.Discard})
	root.DisableAutoGenTag = true // the pages stay the same from one run to the next
	root.InitDefaultCompletionCmd()
	return doc.GenManTree(root, &doc.GenManHeader{Title: "COLDSEND", Section: "1", Source: "coldsend " + Version, Manual: "coldsend manual"}, dir)
}
