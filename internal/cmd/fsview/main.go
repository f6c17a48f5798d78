// Command fsview prints internal/fsview's record of a directory tree as
// the running kernel shows it: fsview DIR > view.txt.
package main

import (
	"fmt"
	"os"

	"github.com/coldsend/coldsend/internal/fsview"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: fsview DIR")
		os.Exit(2)
	}
	es, err := fsview.Record(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "fsview:", err)
		os.Exit(1)
	}
	fmt.Print(fsview.Format(es))
}
