package model

import "unsafe"

func unsafeSizeof[T Float](z T) uintptr { return unsafe.Sizeof(z) }
