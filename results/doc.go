// Package results owns the per-example result tables of long runs: one CSV row per unit of work
// (an example, an example's layer, a trial), appended as it is computed, so that a run can be
// interrupted and resumed, split into shards for a cluster's job array, and merged.
//
// # Files
//
// A table is a CSV file PATH whose first line is its header, and a settings file PATH.json that
// records the columns (with their kinds: text, int or float), the key columns that identify a row,
// the shard the file belongs to, and the settings every row was computed with (model, data,
// objective, thresholds...). The shard i of n of a table BASE.csv lives in BASE.shard-i-of-n.csv
// (see Shard.Path).
//
// # Guarantees
//
//   - Settings: Open on an existing table compares the recorded settings with the run's; if any
//     differ it returns an error (ErrSettings) naming every differing field, and writes nothing —
//     neither the CSV nor the settings file.
//   - Identity: a file that is not a table with exactly the expected header (a text file, a
//     binary, a CSV of another kind, a directory, a device) is never modified (ErrNotTable). The
//     check comes first; the repair of a torn last line left by an interrupted write happens only
//     on a file verified to be such a table.
//   - Keys: rows are identified by their full key (e.g. index and layer) and never duplicated:
//     Append skips rows whose key is present and writes a unit's rows with one write, so a unit
//     of several rows interrupted half-way resumes with exactly the rows it lacks.
//   - One writer: Open takes an exclusive advisory lock (flock) on the file; a second writer gets
//     ErrLocked instead of interleaving rows. The lock is released by Close, or by the kernel when
//     the process dies.
//   - Durability: each Append is written and synced before it returns; every write, sync and
//     close error is returned, and after one the table takes no more rows.
//   - Merge: every shard i/n is present, the inputs share columns, key and settings, every line
//     parses with values of the recorded kinds (a cut last line is an error), rows of one key
//     agree (a conflict names the key and both files), and the merged table and its settings are
//     written through a temporary file and a rename — only onto a regular file or a new path.
//   - Reading: Read checks the same as Merge for one file; it never panics on arbitrary bytes.
//
// Settings files written before this package (a flat JSON object of settings) are read: their
// settings are compared the same way, and Open upgrades them. Tables without a settings file are
// adopted by Open when their header matches; Merge needs their key columns (MergeOptions.Key).
package results
