// Package safetensors reads and writes the safetensors format of PyTorch and Hugging Face:
// named tensors in one file that any of their tools opens without running code from it.
//
// # The format
//
// A file is an 8-byte little-endian unsigned header length N, then N bytes of UTF-8 JSON, then
// the data buffer. The JSON is one object: a key per tensor, whose value is
//
//	{"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]}
//
// with BEGIN and END byte offsets into the data buffer (END excluded), and optionally the key
// "__metadata__" whose value is an object of string values. A tensor's elements are stored
// little-endian in C (row-major) order; a shape [] is a 0-d tensor of one element, and a shape
// with a zero dimension has no elements (BEGIN = END).
//
// # What is written
//
// [Encode] and [Write] store F32 and F64 tensors. The output depends only on the tensors and
// the metadata, byte for byte, and follows the rules of the reference implementation: the
// tensors ordered by decreasing element size, then by name (byte order), with contiguous data
// from offset 0, so that with the header padded to a multiple of 8 every tensor starts at a
// multiple of its element size in the file; the header compact JSON (no white space), the
// metadata first with its keys sorted, each tensor's keys in the order dtype, shape,
// data_offsets; strings escaped only where JSON requires it (", \, control characters) and
// kept as UTF-8 otherwise; the header padded with spaces to a multiple of 8 bytes. An empty
// metadata map writes no "__metadata__" key.
//
// # What is read
//
// Every dtype of the format with a whole number of bytes per element is understood in the
// header (BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64), so
// that [ReadHeader] describes any such file; the data of F32 and F64 tensors only can be read
// ([ReadInto], [File.Tensor], [Read]), others give an error wrapping [ErrDType] that names the
// tensor. The header is checked strictly, as the reference implementation does and more:
//
//   - N at most [MaxHeaderLen] bytes ([ErrHeaderTooLarge]) and within the file ([ErrTruncated]);
//   - valid UTF-8 JSON starting with '{', one object with nothing but white space after it;
//   - no key twice, in the header, in a tensor's entry or in the metadata;
//   - each tensor exactly the keys dtype, shape and data_offsets, a known dtype, at most
//     [MaxDims] dimensions, each a non-negative integer, whose product and byte count do not
//     overflow, and data offsets of exactly that byte count;
//   - the tensors' data, in the order of their offsets, contiguous from offset 0 (no overlap,
//     no gap) and ending exactly at the end of the file: data beyond the end of the file is
//     [ErrTruncated], bytes after the last tensor are trailing bytes.
//
// # Resource bounds
//
// Nothing is allocated from a size the file declares before it has been checked against the
// size of the file: the header after its length is checked against the file and the limit,
// the data after the offsets are checked against the file. Reading a tensor allocates its
// elements (as many bytes as it holds in the file) and a buffer of at most 256 KiB; reading
// is by offset, so a caller may read only the tensors it needs.
//
// # Errors
//
// Every problem with the content of a file wraps [ErrFormat], names the file (when read from
// a path) and the tensor or key involved; [ErrTruncated], [ErrHeaderTooLarge] and, for an
// unknown dtype, [ErrDType] single out some of them. A bad argument of the caller (tensor data
// that does not match its shape, a name used twice, a destination of the wrong length) wraps
// [ErrInvalid], and a tensor asked for that the file lacks wraps [ErrNotFound]. A file that
// cannot be opened, or that is not a regular file, returns the error of [inputfile.Open]. No
// input makes a function of this package panic.
//
// # Why not an existing Go module
//
// github.com/nlpodyssey/safetensors (BSD-2-Clause, untagged, last changed in February 2025)
// decodes a whole file held in memory, accepts duplicate JSON keys (the last one wins) and
// returns errors without sentinels or tensor names, so this package reads the format itself
// from a file by offset with the checks above.
package safetensors
