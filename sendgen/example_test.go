package sendgen_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"log"
	"os"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/sendgen"
)

// A full send of a snapshot, as btrfs send writes it; here compared with
// the stream the kernel sent for the same snapshot.
func ExampleSend() {
	fsys, err := fstree.OpenFiles([]string{tinyImage}, fstree.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer fsys.Close()
	snap, err := fsys.ResolveSubvol("vol.1")
	if err != nil {
		log.Fatal(err)
	}
	var out bytes.Buffer
	if err := sendgen.Send(&out, snap, sendgen.Options{}); err != nil {
		log.Fatal(err)
	}
	kernel, err := os.ReadFile("../fixtures/images/tiny/vol.1.full.v1.6.18.44-fc-v1272.stream")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes, sha256 %x, the kernel's bytes: %v\n", out.Len(), sha256.Sum256(out.Bytes()), bytes.Equal(out.Bytes(), kernel))
	// Output:
	// 25639 bytes, sha256 3468a39644f7cb9c8a2e0cd5510274837028399e922a12b334a2ef967530484e, the kernel's bytes: true
}

// An incremental send (btrfs send -p vol.1 vol.2) in protocol 2 with
// compressed extents passed through as stored (--compressed-data).
func ExampleSend_incremental() {
	fsys, err := fstree.OpenFiles([]string{tinyImage}, fstree.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer fsys.Close()
	parent, err := fsys.ResolveSubvol("vol.1")
	if err != nil {
		log.Fatal(err)
	}
	snap, err := fsys.ResolveSubvol("vol.2")
	if err != nil {
		log.Fatal(err)
	}
	var out bytes.Buffer
	if err := sendgen.Send(&out, snap, sendgen.Options{Parent: parent, Proto: 2}); err != nil {
		log.Fatal(err)
	}
	kernel, err := os.ReadFile("../fixtures/images/tiny/vol.2.incr-vol.1.v2.6.18.44-fc-v1272.stream")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes, sha256 %x, the kernel's bytes: %v\n", out.Len(), sha256.Sum256(out.Bytes()), bytes.Equal(out.Bytes(), kernel))
	// Output:
	// 5940 bytes, sha256 06e587a74a845ccc5fbe18c4992afbd9d1cc8c660ab4336c6f1d79fc6d02f826, the kernel's bytes: true
}

// Several snapshots in one stream, as btrfs send -e vol.1 vol.2 frames
// them: the full streams the kernel sends for each, joined with one header
// and one END.
func ExampleSendMany() {
	fsys, err := fstree.OpenFiles([]string{tinyImage}, fstree.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer fsys.Close()
	var snaps []*fstree.Subvol
	for _, path := range []string{"vol.1", "vol.2"} {
		sv, err := fsys.ResolveSubvol(path)
		if err != nil {
			log.Fatal(err)
		}
		snaps = append(snaps, sv)
	}
	var out bytes.Buffer
	if err := sendgen.SendMany(&out, snaps, sendgen.ManyOptions{Chain: true}); err != nil {
		log.Fatal(err)
	}
	var kernel []byte
	for i, name := range []string{"vol.1.full.v1", "vol.2.full.v1"} {
		b, err := os.ReadFile("../fixtures/images/tiny/" + name + ".6.18.44-fc-v1272.stream")
		if err != nil {
			log.Fatal(err)
		}
		if i == 0 {
			kernel = b[:len(b)-10] // without its END command
		} else {
			kernel = append(kernel, b[17:]...) // without its header
		}
	}
	fmt.Printf("%d bytes, the kernel's streams joined: %v\n", out.Len(), bytes.Equal(out.Bytes(), kernel))
	// Output:
	// 56144 bytes, the kernel's streams joined: true
}
