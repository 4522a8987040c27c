// Package policy makes pure decisions: tokens, grants, egress rules and
// limit ceilings. It performs no I/O.
package policy
