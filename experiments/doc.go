// Package experiments reproduces the experiments of the three papers in SPEC.md: Shu & Zhu's
// Setups 0–4 (plus a one-pixel attack study and the FI-versus-odds identity), Cheney et al.'s
// weight knockout and noise, and the condition-number estimator. Each experiment has its own
// Config (with Quick and Paper defaults), a Run returning plain result data, and functions that
// turn results into figures; a registered wrapper runs it for `fisens reproduce`, writing figures
// (SVG + PNG), CSV tables and an index. Measures are computed by package fisens; no plotting or
// printing happens inside the measures.
package experiments
