package fstree

// SetChunkBytes sets how much of a file a WriteTo worker reads at a time
// and returns what restores it.
func SetChunkBytes(n int64) (restore func()) {
	old := chunkBytes
	chunkBytes = n
	return func() { chunkBytes = old }
}
