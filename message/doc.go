// Package message implements the RocketMQ 4.x message encodings the broker and
// our client speak: the stored/wire layout of a message (the commit-log record
// RocketMQ writes and PULL_MESSAGE bodies carry), the properties string, the
// SEND_BATCH_MESSAGE body, the two message-id formats (offset msg id and the
// client's UNIQ_KEY), the tags hash, sysFlag bits, and zlib body compression.
//
// Everything here is a pure codec: no I/O, no goroutines, no global mutable
// state except the pooled zlib coders. The byte layouts are frozen by RocketMQ
// and documented in FORMAT.md beside this file.
//
// Aliasing: decoders return byte slices (bodies, raw properties, topics in a
// View) that alias the input buffer. Copy them if the buffer is reused.
// Strings returned by Decode never alias the input.
//
// Safety: every decoder checks each length before slicing and returns an
// error wrapping one of the package's sentinels; none panics on any input.
// Encoders are append-style and allocate nothing when dst has capacity.
package message
