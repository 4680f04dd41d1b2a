"""Everything that starts or drives claims from outside: the client and the command line."""
