module github.com/coldsend/coldsend

go 1.26.0

require (
	github.com/anchore/go-lzo v0.1.1 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
