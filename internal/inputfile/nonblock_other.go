//go:build !unix

package inputfile

// nonBlock is 0 where FIFOs do not block open.
const nonBlock = 0
