package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"

	"github.com/wtacrs/wtacrs/internal/inputfile"
)

// maxDict is the largest dictd text read, compressed or not (The Devil's Dictionary has 384 kB).
const maxDict = 64 << 20

// dictEntry is one entry of a dictd index: a headword and the byte range of its text.
type dictEntry struct {
	word        string
	off, length int
}

// readDict reads a dictd database: the text at path (gzip-compressed when the name ends in
// ".dz", as dictzip files are gzip files) and its index, the path with ".dict.dz" or ".dict"
// replaced by ".index". Errors name the file (and the index line).
func readDict(path string) ([]byte, []dictEntry, error) {
	base, ok := strings.CutSuffix(path, ".dict.dz")
	if !ok {
		if base, ok = strings.CutSuffix(path, ".dict"); !ok {
			return nil, nil, fmt.Errorf("gencorpus: %s: a dictd database ends in .dict or .dict.dz", path)
		}
	}
	raw, err := inputfile.ReadFile(path, maxDict)
	if err != nil {
		return nil, nil, fmt.Errorf("gencorpus: %w", err)
	}
	text := raw
	if strings.HasSuffix(path, ".dz") {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, nil, fmt.Errorf("gencorpus: %s: %w", path, err)
		}
		if text, err = io.ReadAll(io.LimitReader(zr, maxDict+1)); err != nil {
			return nil, nil, fmt.Errorf("gencorpus: %s: %w", path, err)
		}
		if len(text) > maxDict {
			return nil, nil, fmt.Errorf("gencorpus: %s holds more than %d bytes of text", path, maxDict)
		}
	}
	idxPath := base + ".index"
	idx, err := inputfile.ReadFile(idxPath, maxDict)
	if err != nil {
		return nil, nil, fmt.Errorf("gencorpus: %w", err)
	}
	var entries []dictEntry
	sc := bufio.NewScanner(bytes.NewReader(idx))
	n := 0
	for sc.Scan() {
		n++
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 3 {
			return nil, nil, fmt.Errorf("gencorpus: %s:%d: want headword, offset and length", idxPath, n)
		}
		off, err1 := b64(f[1])
		length, err2 := b64(f[2])
		if err1 != nil || err2 != nil || off > len(text) || length > len(text)-off {
			return nil, nil, fmt.Errorf("gencorpus: %s:%d: range %q %q outside the %d bytes of %s", idxPath, n, f[1], f[2], len(text), path)
		}
		entries = append(entries, dictEntry{f[0], off, length})
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("gencorpus: %s: %w", idxPath, err)
	}
	return text, entries, nil
}

// b64 decodes a dictd number: base-64 digits A–Z a–z 0–9 + /, most significant first.
func b64(s string) (int, error) {
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	if s == "" || len(s) > 8 {
		return 0, fmt.Errorf("bad number %q", s)
	}
	v := 0
	for _, c := range []byte(s) {
		d := strings.IndexByte(digits, c)
		if d < 0 {
			return 0, fmt.Errorf("bad digit %q", c)
		}
		v = v<<6 | d
	}
	return v, nil
}

// hyphenated reports whether line ends in a letter and one hyphen, not in a dash "--".
func hyphenated(line string) bool {
	n := len(line)
	return n >= 2 && line[n-1] == '-' && unicode.IsLetter(rune(line[n-2]))
}

// devilDocuments returns the entries of The Devil's Dictionary in text order, one document
// each with one paragraph a line. dictfmt's own entries (headwords opening with "00database":
// the header, the licence and the preface) are left out, as are the authors' signatures (lines
// indented by 40 columns or more); '_', which marks italics, is removed, and a word hyphenated
// at a line end is joined again.
func devilDocuments(path string) ([]document, error) {
	text, entries, err := readDict(path)
	if err != nil {
		return nil, err
	}
	entries = slices.DeleteFunc(entries, func(e dictEntry) bool { return strings.HasPrefix(e.word, "00database") })
	slices.SortStableFunc(entries, func(a, b dictEntry) int { return a.off - b.off })
	entries = slices.CompactFunc(entries, func(a, b dictEntry) bool { return a.off == b.off })
	var docs []document
	for _, e := range entries {
		d := document{source: srcDevil, ref: e.word}
		var para []string
		flush := func() {
			if p := clean(strings.Join(para, " ")); p != "" {
				d.lines = append(d.lines, p)
			}
			para = para[:0]
		}
		for _, line := range strings.Split(string(text[e.off:e.off+e.length]), "\n") {
			if strings.TrimSpace(line) == "" {
				flush()
				continue
			}
			if len(line)-len(strings.TrimLeft(line, " ")) >= 40 {
				continue
			}
			line = strings.TrimSpace(strings.ReplaceAll(line, "_", ""))
			// A word broken at a line end ("cannon-" / "shot") is joined again.
			if n := len(para); n > 0 && hyphenated(para[n-1]) && line[0] >= 'a' && line[0] <= 'z' {
				para[n-1] += line
				continue
			}
			para = append(para, line)
		}
		flush()
		if len(d.lines) > 0 {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("gencorpus: %s: no entries", path)
	}
	return docs, nil
}
