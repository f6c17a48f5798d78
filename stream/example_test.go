package stream_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/coldsend/coldsend/stream"
)

// Decode a send stream (here one the kernel wrote for btrfs send -p),
// command by command; a compressed file would go through Decompress first.
func ExampleReader() {
	f, err := os.Open("../fixtures/images/tiny/vol.2.incr-vol.1.v1.6.18.44-fc-v1272.stream")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	r := stream.NewReader(f)
	for {
		c, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			log.Fatal(err) // says which command, at which stream offset
		}
		if c.Index <= 6 {
			fmt.Printf("%d %s %q at offset %d\n", c.Index, c.Cmd, c.String(stream.AttrPath), c.Offset)
		}
	}
	fmt.Printf("protocol %d, %d commands\n", r.Version(), r.Commands())
	// Output:
	// 1 snapshot "vol.2" at offset 17
	// 2 set_xattr "d" at offset 100
	// 3 rename "d/e" at offset 136
	// 4 write "e2/regular" at offset 159
	// 5 utimes "e2/regular" at offset 4295
	// 6 unlink "d/f03" at offset 4367
	// protocol 1, 22 commands
}
