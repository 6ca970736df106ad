// Package kjv reads the King James Version of the Bible as the bible program of the Debian
// package bible-kjv prints it (one verse a line, "Ge1:1 In the beginning…"), and holds the rule
// that sends whole chapters to the dev split of the bundled rte-synth data set, so that the
// commands that build rte-synth and the pretraining corpus agree on it.
package kjv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os/exec"
	"regexp"
	"strconv"

	"github.com/wtacrs/wtacrs/internal/inputfile"
)

// ErrFormat reports a line that is not a verse.
var ErrFormat = errors.New("kjv: malformed verse text")

// Verse is one verse of the King James Version.
type Verse struct {
	// Book is the abbreviation the bible program prints, e.g. "Ge", "2Ki".
	Book string
	// Chapter and Verse are 1-based.
	Chapter, Verse int
	// Text is the verse without its reference.
	Text string
}

// Ref returns the verse's reference as bible prints it, e.g. "Ge1:1".
func (v Verse) Ref() string { return fmt.Sprintf("%s%d:%d", v.Book, v.Chapter, v.Verse) }

// ChapterRef returns the reference of the verse's chapter, e.g. "Ge1".
func (v Verse) ChapterRef() string { return v.Book + strconv.Itoa(v.Chapter) }

var refRE = regexp.MustCompile(`^([1-3]?[A-Za-z]+)(\d+):(\d+) (.+)$`)

// maxLine is the longest line Parse accepts; the longest verse has under 600 bytes.
const maxLine = 1 << 20

// Parse reads one verse per line in the layout of `bible -f`: "Ge1:1 In the beginning…". Blank
// lines are skipped; any other line that does not match, a line longer than 1 MiB and a stream
// with no verse are errors wrapping ErrFormat that name the stream (name) and the line.
func Parse(r io.Reader, name string) ([]Verse, error) {
	var out []Verse
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "" {
			continue
		}
		m := refRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("%w: %s:%d: not a verse line %q", ErrFormat, name, n, line)
		}
		c, err1 := strconv.Atoi(m[2])
		v, err2 := strconv.Atoi(m[3])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%w: %s:%d: verse reference out of range", ErrFormat, name, n)
		}
		out = append(out, Verse{Book: m[1], Chapter: c, Verse: v, Text: m[4]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s:%d: %w", ErrFormat, name, n+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s: no verses", ErrFormat, name)
	}
	return out, nil
}

// BibleArgs are the arguments of the bible program that print the whole text.
var BibleArgs = []string{"-f", "Gen1:1-Rev22:21"}

// Read reads the verses from the file at path (refusing a FIFO, a directory or another special
// file), or, when path is empty, from the installed bible-kjv package by running
// `bible -f Gen1:1-Rev22:21`. Errors name the file or the command.
func Read(path string) ([]Verse, error) {
	if path != "" {
		f, _, err := inputfile.Open(path)
		if err != nil {
			return nil, fmt.Errorf("kjv: %w", err)
		}
		defer f.Close()
		return Parse(f, path)
	}
	cmd := exec.Command("bible", BibleArgs...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kjv: running bible (install the Debian packages bible-kjv and bible-kjv-text, or name a file of verses): %w: %s", err, errb.String())
	}
	return Parse(&out, "bible -f Gen1:1-Rev22:21")
}

// DevChapter reports whether chapter of book belongs to the dev split of the rte-synth data set
// made with the given seed, one chapter in every on average: the FNV-1a 64-bit hash of the text
// "seed/book/chapter" (decimal seed and chapter) is divisible by every. every must be at least
// 1; every == 1 sends every chapter to dev.
func DevChapter(seed uint64, book string, chapter, every int) bool {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%d", seed, book, chapter)
	return h.Sum64()%uint64(max(every, 1)) == 0
}
