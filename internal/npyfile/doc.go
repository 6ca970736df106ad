// Package npyfile reads and writes NumPy .npy files: the one reader of every command that takes
// .npy input, and an atomic writer.
//
// # What is read
//
// A file starts with the magic "\x93NUMPY", a version byte pair and a little-endian header
// length: 2 bytes for version 1.0, 4 bytes for versions 2.0 and 3.0 (other versions are
// refused). The header is a Python dict literal with exactly the keys 'descr', 'fortran_order'
// and 'shape', in any order, with either quote style, optional white space and an optional
// trailing comma, usually padded with spaces and ending in '\n' (the padding and the newline are
// not required, as numpy does not require them). A key that appears twice, an unknown key, a
// missing key, a string with escape sequences, a shape that is not a tuple ((3) rather than
// (3,)), a dimension that is negative, not an integer or larger than an int, and more than
// [MaxDims] dimensions are errors. Version 3.0 headers must be valid UTF-8.
//
// Supported dtypes (the 'descr' string): float32 and float64 ('<f4', '>f8', …), bool ('|b1'),
// and signed and unsigned integers of 1, 2, 4 or 8 bytes ('|i1', '<u2', '>i8', …), in either
// byte order. The numpy names ('float64', 'int32', 'bool', …), a code without a byte-order
// character ('f8') and the native order '=' are read as little-endian; '|' is accepted for
// 1-byte types only. Everything else is refused with an error that names the dtype: float16
// and longdouble, complex numbers, strings, objects, datetimes and structured (record) dtypes.
// Fortran-order arrays are refused (numpy.ascontiguousarray fixes them).
//
// # Resource bounds
//
// Nothing is allocated from what a header declares before it has been checked against the
// size of the file: the header length must fit in the file and be at most [MaxHeaderLen]
// bytes, the element count and byte count of the shape must not overflow an int, and the data
// after the header must be exactly as long as the shape and dtype say. Fewer bytes give an
// error that says "truncated" with both figures, more give one that says "trailing bytes".
// Memory is therefore bounded by what the file really holds: 8 bytes of float64 per element,
// at most 8 times the file's size.
//
// # Values
//
// Elements are returned as float64: bools as 0 and 1, integers converted exactly (an 8-byte
// integer that float64 cannot hold exactly, such as 2^53+1, is an error). NaN and ±Inf
// are returned as they are; callers that need finite values check them. A 0-d array (shape
// ()) has one element and an empty, non-nil Shape; callers reject the dimensionalities they do
// not want.
//
// # Errors
//
// Every problem with the content of a file wraps [ErrFormat] and names the file and the
// problem (the header text, byte offset, key, value or figure involved). A file that cannot be
// opened returns the error of [os.Open] as it is (it names the path, and errors.Is(err,
// fs.ErrNotExist) reports a missing file). Other read failures are returned wrapped with the
// path. No input makes a function of this package panic.
package npyfile
