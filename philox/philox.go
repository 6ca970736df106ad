// Package philox is the counter-based random number generator of the project: Philox4x32-10
// (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) and the map from
// (seed, stream, counter) to a uniform number in [0, 1) that package estimator's random-stream
// layout and the GPU kernels share. Being counter-based, any draw can be computed on its own, in
// any order and on any device, with the same bits.
package philox

import "math/bits"

// Philox returns the Philox4x32-10 block for a 128-bit counter and a 64-bit key (Salmon et al.,
// "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
func Philox(counter [4]uint32, key [2]uint32) [4]uint32 {
	const (
		m0, m1 = 0xD2511F53, 0xCD9E8D57
		w0, w1 = 0x9E3779B9, 0xBB67AE85
	)
	c := counter
	k0, k1 := key[0], key[1]
	for round := 0; round < 10; round++ {
		if round > 0 {
			k0 += w0
			k1 += w1
		}
		hi0, lo0 := bits.Mul32(m0, c[0])
		hi1, lo1 := bits.Mul32(m1, c[2])
		c = [4]uint32{hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0}
	}
	return c
}

// Uniform returns the uniform number in [0, 1) of seed, stream and counter: the Philox4x32-10
// block with counter (lo32(counter), hi32(counter), lo32(stream), hi32(stream)) and key
// (lo32(seed), hi32(seed)) gives words x0..x3, and u = ((x0<<32 | x1) >> 11) · 2⁻⁵³.
func Uniform(seed, stream, counter uint64) float64 {
	x := Philox(
		[4]uint32{uint32(counter), uint32(counter >> 32), uint32(stream), uint32(stream >> 32)},
		[2]uint32{uint32(seed), uint32(seed >> 32)})
	return float64((uint64(x[0])<<32|uint64(x[1]))>>11) * 0x1p-53
}
