package estimator

import (
	"math/bits"
	"slices"
)

// heavier is the order of SortedOrder: larger weight first, ties broken by smaller index. It is
// a strict total order on indices.
func heavier(w []float64, a, b int) bool {
	return w[a] > w[b] || (w[a] == w[b] && a < b)
}

// topOrder returns the c heaviest pairs in the order of SortedOrder, without sorting the rest:
// a quickselect (median-of-three pivots, falling back to a full sort after too many rounds)
// followed by a sort of the c selected pairs. 0 ≤ c ≤ len(w).
func topOrder(w []float64, c int) []int { return slices.Clip(topOrderInto(nil, w, c)) }

// topOrderInto is topOrder in the storage of idx (grown to len(w) when shorter): it returns
// idx[:c] after the selection has reordered idx.
func topOrderInto(idx []int, w []float64, c int) []int {
	idx = resize(idx, len(w))
	for i := range idx {
		idx[i] = i
	}
	cmpHeavier := func(a, b int) int {
		switch {
		case heavier(w, a, b):
			return -1
		case heavier(w, b, a):
			return 1
		}
		return 0
	}
	if c < len(w) {
		lo, hi := 0, len(idx) // the c-th heaviest lies in idx[lo:hi]
		for rounds := 2*bits.Len(uint(len(w))) + 8; hi-lo > 16; rounds-- {
			if rounds == 0 {
				slices.SortFunc(idx[lo:hi], cmpHeavier)
				return idx[:c]
			}
			p := partition(w, idx[lo:hi]) + lo
			switch {
			case p == c:
				lo, hi = c, c
			case p < c:
				lo = p + 1
			default:
				hi = p
			}
		}
		slices.SortFunc(idx[lo:hi], cmpHeavier)
	}
	top := idx[:c]
	slices.SortFunc(top, cmpHeavier)
	return top
}

// resize returns s with length n, reusing its storage when it is large enough (the contents
// are then whatever was there) and allocating otherwise.
func resize[E any](s []E, n int) []E {
	if cap(s) < n {
		return make([]E, n)
	}
	return s[:n]
}

// partition reorders s around a median-of-three pivot so that heavier pairs come first, and
// returns the pivot's final position.
func partition(w []float64, s []int) int {
	n := len(s)
	a, b, c := 0, n/2, n-1
	if heavier(w, s[b], s[a]) {
		a, b = b, a
	}
	if heavier(w, s[c], s[b]) {
		b, c = c, b
		if heavier(w, s[b], s[a]) {
			a, b = b, a
		}
	}
	s[b], s[n-1] = s[n-1], s[b]
	pivot := s[n-1]
	store := 0
	for i := 0; i < n-1; i++ {
		if heavier(w, s[i], pivot) {
			s[i], s[store] = s[store], s[i]
			store++
		}
	}
	s[store], s[n-1] = s[n-1], s[store]
	return store
}
