// Package benchimage owns the filesystem images the benchmarks read:
// images the kernel builds (mkfs.btrfs, a loop mount, files written
// through it), cached between runs in $COLDSEND_BENCH_DIR (default
// <repo>/out/bench) as NAME.img with a JSON stamp NAME.json beside it.
//
// The stamp records how the image was built (Spec.ID) and what it holds;
// an image whose stamp is missing, unreadable or built from another spec
// is rebuilt, and a failed build leaves no stamp. Building needs root
// (mount -o loop) and mkfs.btrfs; using a cached image needs neither, and
// without them a missing image skips the benchmark, saying why.
//
// A Spec names an image, sizes it and fills it through the mount; the
// images several packages' benchmarks share are defined here (the send
// images, the walk and data images), the others beside the benchmarks
// that use them.
package benchimage
