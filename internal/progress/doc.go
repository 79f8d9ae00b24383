// Package progress reports the advance of long passes (training epochs, FI over a dataset) as a
// one-line bar: count/total, percentage, rate and estimated time left.
//
// On a terminal the line is redrawn in place with a carriage return. Anywhere else (log files,
// notebooks, CI output) a plain line is written only every 10 % (and at the end), so the output
// stays readable. A nil *Bar, or one writing to io.Discard or a nil writer, does nothing, so callers
// never need to check whether progress reporting is wanted.
package progress
