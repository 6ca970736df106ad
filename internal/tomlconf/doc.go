// Package tomlconf decodes TOML configuration text strictly into a struct that holds the
// defaults, and reports every problem as a [FieldError] naming the file, the dotted key and
// its 1-based line.
//
// Conventions:
//
//   - A key is written as in TOML, dot-separated, each part bare when it can be
//     ([A-Za-z0-9_-]+) and double-quoted otherwise, with the 0-based index of an element of an
//     array (an array of tables included) in brackets: compare.variant[1].ratio,
//     analysis.budgets[0], layers."my kind". [Join] and [Elem] build keys this way.
//   - Lines come from an [Index] over the text, which follows strings, comments, multi-line
//     arrays, inline tables, quoted and dotted keys and [table] / [[array]] headers, counting
//     the elements of each array of tables per path.
//   - Decoding replaces what the text names and keeps every other field of the destination as
//     it was: a slice given in the text replaces the default slice, a table given for a map
//     entry updates that entry.
//   - Errors wrap the sentinel the caller passes, so each package keeps its own ErrConfig.
//
// The TOML grammar itself is github.com/BurntSushi/toml's; this package adds the strictness
// (exact key names, no negative value into an unsigned field, no integer out of range, no
// float into an integer) and the positions.
package tomlconf
