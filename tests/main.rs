//! Integration tests: one binary, a file per subcommand.
