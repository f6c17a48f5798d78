// Package synthstream makes large, valid send streams for benchmarks
// without holding them in memory: a block of commands (new file, 48 KiB
// writes as the kernel's v1 sends them, attributes) is encoded once and
// repeated with fresh names until the requested size.
package synthstream
