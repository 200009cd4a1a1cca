"""Pure rebate rules: no I/O, no clock reads, no framework. Standard library only."""
