// Package integration holds the protocol-truth tests of ionbus: an
// in-process broker driven by the real socket.io-client@4.8.1 (Node
// scripts under js/), raw Go clients sending hostile input, and the HTTP
// API. js/reference-server.js runs the same test application on the real
// socket.io@4.8.1 server, so every script can be checked against the
// reference first. See README.md for how to run them.
package integration
