//! Bad input on real sockets: each gets its clear error, and the server keeps
//! serving the others.
