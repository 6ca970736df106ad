package estimator

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

// Uniform returns the uniform number in [0, 1) that the stream layout of the package
// documentation assigns to seed, stream and counter.
func Uniform(seed, stream, counter uint64) float64 {
	x := Philox(
		[4]uint32{uint32(counter), uint32(counter >> 32), uint32(stream), uint32(stream >> 32)},
		[2]uint32{uint32(seed), uint32(seed >> 32)})
	return float64((uint64(x[0])<<32|uint64(x[1]))>>11) * 0x1p-53
}
