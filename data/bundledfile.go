package data

import "fmt"

// BundledFile returns the raw TSV of a split ("train" or "dev") of the bundled data set. Any
// other split name returns an error wrapping ErrRange.
func BundledFile(split string) ([]byte, error) {
	if split != "train" && split != "dev" {
		return nil, fmt.Errorf("%w: bundled split %q (want train or dev)", ErrRange, split)
	}
	b, err := bundledFS.ReadFile("rte-synth/" + split + ".tsv")
	if err != nil {
		return nil, fmt.Errorf("data: bundled %s: %w", split, err)
	}
	return b, nil
}
