// Command unpack decompresses a fixture scenario's device images
// (*.img.zst) into a directory, for the demo and for manual inspection.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/coldsend/coldsend/internal/imagefile"
)

func main() {
	out := flag.String("o", "out/images", "directory to write the *.img files into")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: unpack -o DIR SCENARIO_DIR")
		os.Exit(2)
	}
	paths, err := imagefile.Unpack(flag.Arg(0), *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "unpack:", err)
		os.Exit(1)
	}
	for _, p := range paths {
		fmt.Println(p)
	}
}
