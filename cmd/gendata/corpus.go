package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
)

// verse is one verse of the King James Version.
type verse struct {
	book           string // abbreviation printed by bible(1), e.g. "Ge", "2Ki"
	chapter, verse int
	text           string
}

func (v verse) ref() string { return fmt.Sprintf("%s%d:%d", v.book, v.chapter, v.verse) }

var refRE = regexp.MustCompile(`^([1-3]?[A-Za-z]+)(\d+):(\d+) (.+)$`)

// parseVerses reads one verse per line in the layout of `bible -f`: "Ge1:1 In the beginning…".
// Lines that do not match are an error naming the line.
func parseVerses(r io.Reader, name string) ([]verse, error) {
	var out []verse
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "" {
			continue
		}
		m := refRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("gendata: %s:%d: not a verse line %q", name, n, line)
		}
		c, _ := strconv.Atoi(m[2])
		v, _ := strconv.Atoi(m[3])
		out = append(out, verse{book: m[1], chapter: c, verse: v, text: m[4]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("gendata: %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("gendata: %s: no verses", name)
	}
	return out, nil
}

// readCorpus reads the verses from path, or, when path is empty, from the installed bible-kjv
// package by running `bible -f Gen1:1-Rev22:21`.
func readCorpus(path string) ([]verse, error) {
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("gendata: %w", err)
		}
		defer f.Close()
		return parseVerses(f, path)
	}
	cmd := exec.Command("bible", "-f", "Gen1:1-Rev22:21")
	cmd.Stdin = nil
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("gendata: running bible (install the Debian packages bible-kjv and bible-kjv-text, or pass -corpus): %w: %s", err, errb.String())
	}
	return parseVerses(&out, "bible -f Gen1:1-Rev22:21")
}
