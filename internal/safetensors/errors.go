package safetensors

import (
	"errors"
	"fmt"
)

// Errors returned by this package, wrapped with the file, the tensor and the problem (see the
// package documentation).
var (
	// ErrFormat reports a file whose content is not a safetensors file this package reads.
	ErrFormat = errors.New("safetensors: malformed file")
	// ErrTruncated reports a file that ends before the header or the data it declares; such
	// errors wrap ErrFormat too.
	ErrTruncated = errors.New("safetensors: truncated file")
	// ErrHeaderTooLarge reports a header length over [MaxHeaderLen]; such errors wrap ErrFormat
	// too.
	ErrHeaderTooLarge = errors.New("safetensors: header too large")
	// ErrDType reports a dtype that is unknown (such errors wrap ErrFormat too), one whose data
	// this package does not read, or a tensor read as another element type than its own.
	ErrDType = errors.New("safetensors: unsupported dtype")
	// ErrInvalid reports a bad argument: tensors to write that do not match their shape or
	// share a name, a destination of the wrong length.
	ErrInvalid = errors.New("safetensors: invalid argument")
	// ErrNotFound reports a tensor name that the file does not hold.
	ErrNotFound = errors.New("safetensors: no such tensor")
)

// contentError is an error of this package: its message names the file (when known) and the
// problem, without the text of the sentinels it wraps.
type contentError struct {
	is   []error
	path string
	msg  string
}

func (e *contentError) Error() string {
	if e.path == "" {
		return "safetensors: " + e.msg
	}
	return "safetensors: " + e.path + ": " + e.msg
}

func (e *contentError) Unwrap() []error { return e.is }

// fileErrorf returns an error wrapping the sentinels is, with a message from format and args.
func fileErrorf(is []error, format string, args ...any) error {
	return &contentError{is: is, msg: fmt.Sprintf(format, args...)}
}

// formatErrorf returns an error wrapping ErrFormat.
func formatErrorf(format string, args ...any) error {
	return fileErrorf([]error{ErrFormat}, format, args...)
}

// withPath returns err naming the file path, when err is an error of this package that names
// no file yet; other errors are returned as they are.
func withPath(err error, path string) error {
	ce, ok := err.(*contentError)
	if path == "" || !ok || ce.path != "" {
		return err
	}
	c := *ce
	c.path = path
	return &c
}
