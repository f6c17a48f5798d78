// Package readme holds no code: its tests run the Go programs and shell
// recipes of the repository's README.md exactly as written there, so the
// README cannot drift from the library.
package readme
