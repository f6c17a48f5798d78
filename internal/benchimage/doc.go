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
// What goes into an image is the caller's: a Spec names the image, sizes
// it and fills it through the mount. The benchmarks that use these images
// live beside the code they measure (fstree, sendgen).
package benchimage
