// Package destfs makes and changes files under a destination directory
// opened as an os.Root, with what os.Root lacks: device nodes, fifos and
// sockets, xattrs, times of symlinks themselves, reflinks, holes. Where
// the OS or the destination filesystem cannot do a thing, the error
// satisfies IsUnsupported, for the caller to count and report.
//
// It is shared by receive and export, and imports only the standard
// library and golang.org/x/sys.
package destfs
